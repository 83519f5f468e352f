"""Fusion of per-view distance predictions over a complete model (DEF, thesis section 3.2).

For each ordered pair (source s, target t) the target-view points are reprojected into the source view's image plane;
their nearest source points in that plane (within a radius of a few point spacings, and with a depth difference below
a tolerance, which rejects occluded points) give a linearly interpolated (inverse-distance weighted) warped estimate
d_t^{s->t}. Per point the estimates of all views are combined with the minimum, d_t = min_s d_t^{s->t}, or with a
robust variant that first keeps the values between two quantiles (the central 60 % by default), then takes the min.
Target points are processed in chunks so that memory stays bounded for millions of points.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from def_sharp.data.scanning import OrthoCamera


@dataclass
class ViewPrediction:
    camera: OrthoCamera
    points: np.ndarray  # (N, 3) world points seen in this view
    distances: np.ndarray  # (N,) predicted distance-to-feature of those points


class _SourceIndex:
    """Image-plane KD-tree of one source view's points, with their depths and point spacing."""

    def __init__(self, view: ViewPrediction):
        local = view.camera.to_camera(view.points)
        self.tree = cKDTree(local[:, :2])
        self.depth = local[:, 2]
        self.values = view.distances
        self.camera = view.camera
        sample = local[:: max(1, len(local) // 5000), :2]
        spacing, _ = self.tree.query(sample, k=2)
        self.spacing = float(np.median(spacing[:, 1])) if len(local) > 1 else view.camera.pixel_size


def warp_to(source: _SourceIndex, points: np.ndarray, neighbours: int, radius_factor: float,
            depth_tolerance_factor: float) -> np.ndarray:
    """(M,) source estimates interpolated at world points (NaN where the source does not see the point)."""
    local = source.camera.to_camera(points)
    k = min(neighbours, len(source.depth))
    distance, index = source.tree.query(local[:, :2], k=k, distance_upper_bound=radius_factor * source.spacing)
    distance, index = distance.reshape(len(points), k), index.reshape(len(points), k)
    found = np.isfinite(distance)
    safe = np.where(found, index, 0)
    valid = found & (np.abs(source.depth[safe] - local[:, 2:3]) < depth_tolerance_factor * source.spacing)
    weights = np.where(valid, 1.0 / np.maximum(distance, 1e-3 * source.spacing), 0.0)
    total = weights.sum(1)
    warped = (weights * source.values[safe]).sum(1) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, warped, np.nan)


def combine(estimates: np.ndarray, method: str, quantiles: tuple[float, float] = (0.2, 0.8)) -> np.ndarray:
    """(M, V) estimates with NaN for missing -> (M,) fused values ('min' or 'robust_min'); rows without any
    estimate stay NaN. With few estimates no value may fall between the two quantiles (e.g. two values and the
    central 60 %); such rows take the median instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are expected and stay NaN
        if method == "min":
            return np.nanmin(estimates, axis=1)
        if method == "robust_min":
            low, high = np.nanquantile(estimates, quantiles, axis=1)
            kept = np.where((estimates >= low[:, None]) & (estimates <= high[:, None]), estimates, np.nan)
            robust = np.nanmin(kept, axis=1)
            return np.where(np.isnan(robust), np.nanmedian(estimates, axis=1), robust)
    raise ValueError(f"unknown fusion method '{method}'")


def fuse_views(views: list[ViewPrediction], method: str = "min", quantiles: tuple[float, float] = (0.2, 0.8),
               neighbours: int = 8, radius_factor: float = 4.0, depth_tolerance_factor: float = 3.0,
               chunk_size: int = 200_000) -> list[np.ndarray]:
    """Fused distances for the points of every view (list aligned with `views`). A point's own prediction is one of
    its estimates; the others come from warping every other view onto it."""
    sources = [_SourceIndex(view) for view in views]
    fused = []
    for target_index, target in enumerate(views):
        result = np.empty(len(target.points))
        for start in range(0, len(target.points), chunk_size):
            stop = min(start + chunk_size, len(target.points))
            estimates = np.full((stop - start, len(views)), np.nan)
            estimates[:, target_index] = target.distances[start:stop]
            for source_index, source in enumerate(sources):
                if source_index != target_index:
                    estimates[:, source_index] = warp_to(source, target.points[start:stop], neighbours,
                                                         radius_factor, depth_tolerance_factor)
            result[start:stop] = combine(estimates, method, quantiles)
        fused.append(result)
    return fused
