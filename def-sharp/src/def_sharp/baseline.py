"""Classical, non-learned baselines: covariance (PCA) sharpness and normal discontinuity, on the same points.

For each surface point the covariance of its 3D neighbours within a radius gives eigenvalues l0 <= l1 <= l2 and the
surface variation l0 / (l0 + l1 + l2) (Pauly et al. 2002), which is ~0 on flat or gently curved surface and grows
near creases; it is averaged over several radii. A monotone map turns variation into distance: it is fitted on
training patches by matching distributions (the predicted distance at variation s is the (1 - F_s(s)) quantile of
the training distances), so that as many points are called sharp as are sharp in the training data.

The second baseline scores normal discontinuity: normals are estimated by open3d (PCA over the nearest neighbours),
and a point's score is the largest angle between its normal and the normals of its neighbours within a radius,
1 - min |n_p . n_q| (unsigned, so normal orientation does not matter); a crease of dihedral angle a scores
1 - cos a on both sides within the radius, a plane scores 0. It is calibrated to distances the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
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


def normal_discontinuity(points: np.ndarray, normal_neighbours: int, radius: float, max_neighbours: int) -> np.ndarray:
    """(N,) 1 - min over neighbours within `radius` of |n_p . n_q| with open3d normals from k nearest neighbours."""
    if len(points) < 3:
        return np.zeros(len(points))
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(min(normal_neighbours, len(points))))
    normals = np.asarray(cloud.normals)
    k = min(max_neighbours, len(points))
    distances, index = cKDTree(points).query(points, k=k, distance_upper_bound=radius)
    distances, index = distances.reshape(len(points), k), index.reshape(len(points), k)
    found = np.isfinite(distances)
    alignment = np.abs(np.einsum("nk,nmk->nm", normals, normals[np.where(found, index, 0)]))
    return 1.0 - np.where(found, alignment, 1.0).min(1)


@dataclass
class CovarianceBaseline:
    """Sharpness score -> distance, fitted by distribution matching; the score is the covariance surface variation."""

    cfg: BaselineConfig
    pixel_size: float
    variation_grid: np.ndarray | None = None
    distance_grid: np.ndarray | None = None

    def score_points(self, points: np.ndarray) -> np.ndarray:
        return surface_variation(points, self.cfg.radii, self.cfg.max_neighbours)

    def variation_map(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(H, W) sharpness score (0 off the surface)."""
        result = np.zeros(depth.shape)
        result[mask] = self.score_points(patch_points(depth, mask, self.pixel_size))
        return result

    def fit(self, depths: np.ndarray, masks: np.ndarray, distances: np.ndarray) -> CovarianceBaseline:
        """Monotone decreasing score -> distance map by distribution matching on training patches."""
        variations = np.concatenate([self.variation_map(d, m)[m] for d, m in zip(depths, masks, strict=False)])
        targets = np.concatenate([t[m] for t, m in zip(distances, masks, strict=False)])
        levels = np.linspace(0.0, 1.0, 1001)
        self.variation_grid = np.quantile(variations, levels)
        self.distance_grid = np.quantile(targets, 1.0 - levels)
        return self

    def distance_from_score(self, score: np.ndarray) -> np.ndarray:
        if self.variation_grid is None:
            raise RuntimeError(f"{type(self).__name__} used before fit")
        # np.interp needs increasing x; ties in the score grid (many flat points) keep the largest distance.
        grid, first = np.unique(self.variation_grid, return_index=True)
        return np.interp(score, grid, self.distance_grid[first])

    def predict(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        distance = self.distance_from_score(self.variation_map(depth, mask))
        return np.where(mask, distance, self.distance_grid[0])

    def predict_points(self, points: np.ndarray) -> np.ndarray:
        """(N,) distances of an unstructured cloud (e.g. the merged views of a whole model)."""
        return self.distance_from_score(self.score_points(points))


@dataclass
class NormalDiscontinuityBaseline(CovarianceBaseline):
    """The same calibration with the normal-discontinuity score."""

    def score_points(self, points: np.ndarray) -> np.ndarray:
        return normal_discontinuity(points, self.cfg.normal_neighbours, self.cfg.normal_radius, self.cfg.max_neighbours)
