"""Classical, non-learned baseline: covariance (PCA) sharpness on the same range-scan patches.

For each surface point the covariance of its 3D neighbours within a radius gives eigenvalues l0 <= l1 <= l2 and the
surface variation l0 / (l0 + l1 + l2) (Pauly et al. 2002), which is ~0 on flat or gently curved surface and grows
near creases; it is averaged over several radii. A monotone map turns variation into distance: it is fitted on
training patches by matching distributions (the predicted distance at variation s is the (1 - F_s(s)) quantile of
the training distances), so that as many points are called sharp as are sharp in the training data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from def_sharp.config import BaselineConfig


def patch_points(depth: np.ndarray, mask: np.ndarray, pixel_size: float) -> np.ndarray:
    """(H, W) orthographic depth -> (N, 3) camera-frame points of the surface pixels (row-major order)."""
    rows, cols = np.nonzero(mask)
    return np.stack([cols * pixel_size, rows * pixel_size, depth[rows, cols]], 1).astype(np.float64)


def surface_variation(points: np.ndarray, radii: list[float], max_neighbours: int) -> np.ndarray:
    """(N,) mean over radii of l0 / (l0 + l1 + l2) of the ball neighbourhood covariance (at most k neighbours)."""
    if len(points) == 0:
        return np.zeros(0)
    k = min(max_neighbours, len(points))
    # One query at the largest radius; smaller radii reuse it by masking the neighbour distances.
    distances, index = cKDTree(points).query(points, k=k, distance_upper_bound=max(radii))
    distances, index = distances.reshape(len(points), k), index.reshape(len(points), k)
    neighbours = points[np.where(np.isfinite(distances), index, 0)]
    variation = np.zeros(len(points))
    for radius in radii:
        weights = (distances <= radius)[..., None].astype(np.float64)
        count = weights.sum(1)
        mean = (neighbours * weights).sum(1) / count
        centred = (neighbours - mean[:, None]) * weights
        covariance = np.einsum("nki,nkj->nij", centred, centred) / count[..., None]
        eigenvalues = np.linalg.eigvalsh(covariance)
        total = eigenvalues.sum(-1)
        ratio = np.where(total > 0, eigenvalues[:, 0] / np.where(total > 0, total, 1.0), 0.0)
        variation += np.where(count[:, 0] >= 4, ratio, 0.0)
    return variation / len(radii)


@dataclass
class CovarianceBaseline:
    cfg: BaselineConfig
    pixel_size: float
    variation_grid: np.ndarray | None = None
    distance_grid: np.ndarray | None = None

    def variation_map(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(H, W) surface variation (0 off the surface)."""
        result = np.zeros(depth.shape)
        result[mask] = surface_variation(patch_points(depth, mask, self.pixel_size), self.cfg.radii,
                                         self.cfg.max_neighbours)
        return result

    def fit(self, depths: np.ndarray, masks: np.ndarray, distances: np.ndarray) -> CovarianceBaseline:
        """Monotone decreasing variation -> distance map by distribution matching on training patches."""
        variations = np.concatenate([self.variation_map(d, m)[m] for d, m in zip(depths, masks, strict=False)])
        targets = np.concatenate([t[m] for t, m in zip(distances, masks, strict=False)])
        levels = np.linspace(0.0, 1.0, 1001)
        self.variation_grid = np.quantile(variations, levels)
        self.distance_grid = np.quantile(targets, 1.0 - levels)
        return self

    def predict(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.variation_grid is None:
            raise RuntimeError("CovarianceBaseline.predict called before fit")
        variation = self.variation_map(depth, mask)
        # np.interp needs increasing x; ties in the variation grid (many flat points) keep the largest distance.
        grid, first = np.unique(self.variation_grid, return_index=True)
        distance = np.interp(variation, grid, self.distance_grid[first])
        return np.where(mask, distance, self.distance_grid[0])
