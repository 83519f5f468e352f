"""Fusion of per-view distance predictions over a complete model (DEF, thesis section 3.2).

Every view is a range image on a regular pixel grid. A world point is re-projected into a source view and the
source's estimate is read there: bilinearly from the four surrounding pixels when all four see the same surface as
the point, else from the nearest of them that does, else not at all (the source does not see the point). "Sees the
same surface" is a depth test tied to the sampling: a pixel's depth, extrapolated to the point along the pixel's own
depth gradient, must lie within `depth_tolerance_factor` pixel sizes of the point's depth (half a pixel by default).
This rejects occluding surfaces and surfaces on the other side of a crease, while a plane seen at any incidence passes
exactly. Every view also carries the cosine of the incidence angle at each pixel, from the same depth gradient.

Per point the estimates of all views that see it are combined:
- `min`: d_t = min_s d_t^{s->t} (the thesis's rule);
- `robust_min`: the values between two quantiles (the central 60 % by default), then their min;
- `incidence_weighted`: the mean weighted by cos^2 of the incidence angle (grazing views, whose samples are stretched
  and whose predictions are least reliable, count least);
- `frontal_min`: the min over the views whose incidence cosine is at least `frontal_fraction` of the point's most
  frontal view.
Points are processed in chunks so that memory stays bounded for millions of points.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from def_sharp.config import PredictConfig
from def_sharp.data.scanning import OrthoCamera

FUSION_RULES = ("min", "robust_min", "incidence_weighted", "frontal_min")


@dataclass
class ViewPrediction:
    camera: OrthoCamera
    depth: np.ndarray  # (H, W) depth along the view, meaningful where mask
    mask: np.ndarray  # (H, W) bool, pixels that see the surface
    distance: np.ndarray  # (H, W) predicted distance-to-feature, meaningful where mask

    @property
    def points(self) -> np.ndarray:
        """(N, 3) world points of the surface pixels (row-major order)."""
        return self.camera.unproject(self.depth)[self.mask]

    @property
    def distances(self) -> np.ndarray:
        return self.distance[self.mask]


def depth_gradient(depth: np.ndarray, mask: np.ndarray, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) d depth / d x and d depth / d y in world units per world unit. Of the forward and backward differences
    the one smaller in magnitude is used, so that a pixel next to a crease or a silhouette takes the slope of its own
    side."""

    def one_axis(axis: int) -> np.ndarray:
        values = np.where(mask, depth, np.nan)
        padded = np.pad(values, [(1, 1) if a == axis else (0, 0) for a in range(2)], constant_values=np.nan)
        length = values.shape[axis]
        forward = np.take(padded, np.arange(2, length + 2), axis=axis) - values
        backward = values - np.take(padded, np.arange(0, length), axis=axis)
        pick_forward = np.isnan(backward) | (np.abs(forward) < np.abs(backward))
        slope = np.where(pick_forward, forward, backward)
        return np.nan_to_num(slope, nan=0.0) / pixel_size

    return one_axis(1), one_axis(0)


class _SourceView:
    """A view prepared for sampling: depth gradient and incidence cosine per pixel."""

    def __init__(self, view: ViewPrediction):
        self.view = view
        self.slope_x, self.slope_y = depth_gradient(view.depth, view.mask, view.camera.pixel_size)
        self.cosine = 1.0 / np.sqrt(1.0 + self.slope_x**2 + self.slope_y**2)

    def sample(self, points: np.ndarray, depth_tolerance: float, reach: float) -> tuple[np.ndarray, np.ndarray]:
        """(M,) estimates and incidence cosines at world points; NaN where this view does not see the point."""
        camera, view = self.view.camera, self.view
        uv, point_depth = camera.to_pixels(points)
        # Pixel centres sit at integer + 0.5: the four surrounding centres have indices floor(uv - 0.5) + {0, 1}.
        base = np.floor(uv - 0.5).astype(np.int64)
        fx, fy = (uv - 0.5 - base).T
        ok, values, cosines, distance_3d = [], [], [], []
        for d_col, d_row in CORNERS:
            col, row = base[:, 0] + d_col, base[:, 1] + d_row
            inside = (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height)
            col, row = np.where(inside, col, 0), np.where(inside, row, 0)
            offset_x, offset_y = (d_col - fx) * camera.pixel_size, (d_row - fy) * camera.pixel_size
            expected = point_depth + self.slope_x[row, col] * offset_x + self.slope_y[row, col] * offset_y
            ok.append(inside & view.mask[row, col] & (np.abs(view.depth[row, col] - expected) < depth_tolerance))
            values.append(view.distance[row, col])
            cosines.append(self.cosine[row, col])
            distance_3d.append(np.sqrt(offset_x**2 + offset_y**2 + (view.depth[row, col] - point_depth) ** 2))
        ok, values, cosines, distance_3d = (np.stack(a, 1) for a in (ok, values, cosines, distance_3d))
        # Linear interpolation is exact for a field that is linear on the surface (distance to a straight crease on
        # a plane) at any incidence; so use the bilinear quad, else a triangle of either diagonal that contains the
        # point, and only then the nearest pixel, which must lie within `reach` in 3D.
        estimate, cosine = np.full(len(points), np.nan), np.full(len(points), np.nan)
        for weights in interpolation_weights(fx, fy):
            usable = np.isnan(estimate) & np.all(ok | (weights == 0), axis=1)
            estimate = np.where(usable, (weights * values).sum(1), estimate)
            cosine = np.where(usable, (weights * cosines).sum(1), cosine)
        nearest_distance = np.where(ok, distance_3d, np.inf)
        nearest = np.argmin(nearest_distance, axis=1)
        rows = np.arange(len(points))
        fallback = np.isnan(estimate) & (nearest_distance[rows, nearest] < reach)
        estimate = np.where(fallback, values[rows, nearest], estimate)
        cosine = np.where(fallback, cosines[rows, nearest], cosine)
        return estimate, cosine


CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))


def interpolation_weights(fx: np.ndarray, fy: np.ndarray) -> list[np.ndarray]:
    """(M, 4) weights of the corners CORNERS at fractional positions (fx, fy) in a pixel quad: bilinear, then the
    triangle containing the point in the split along diagonal (0,0)-(1,1), then along (1,0)-(0,1)."""
    zero = np.zeros_like(fx)
    bilinear = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 1)
    lower = fx >= fy
    main_diagonal = np.where(lower[:, None], np.stack([1 - fx, fx - fy, zero, fy], 1),
                             np.stack([1 - fy, zero, fy - fx, fx], 1))
    near_origin = fx + fy <= 1
    anti_diagonal = np.where(near_origin[:, None], np.stack([1 - fx - fy, fx, fy, zero], 1),
                             np.stack([zero, 1 - fy, 1 - fx, fx + fy - 1], 1))
    return [bilinear, main_diagonal, anti_diagonal]


def combine(estimates: np.ndarray, method: str, cfg: PredictConfig, cosines: np.ndarray | None = None) -> np.ndarray:
    """(M, V) estimates (NaN where a view does not see the point) and their incidence cosines -> (M,) fused values;
    rows without any estimate stay NaN. With few estimates no value may fall between the two robust quantiles (e.g.
    two values and the central 60 %); such rows take the median instead."""
    if cosines is None:
        cosines = np.where(np.isnan(estimates), np.nan, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are expected and stay NaN
        if method == "min":
            return np.nanmin(estimates, axis=1)
        if method == "robust_min":
            low, high = np.nanquantile(estimates, cfg.robust_quantiles, axis=1)
            kept = np.where((estimates >= low[:, None]) & (estimates <= high[:, None]), estimates, np.nan)
            robust = np.nanmin(kept, axis=1)
            return np.where(np.isnan(robust), np.nanmedian(estimates, axis=1), robust)
        if method == "incidence_weighted":
            weight = np.where(np.isnan(estimates), 0.0, np.nan_to_num(cosines) ** 2 + 1e-6)
            total = weight.sum(1)
            mean = (weight * np.nan_to_num(estimates)).sum(1) / np.where(total > 0, total, 1.0)
            return np.where(total > 0, mean, np.nan)
        if method == "frontal_min":
            best = np.nanmax(cosines, axis=1)
            frontal = cosines >= cfg.frontal_fraction * best[:, None]
            return np.nanmin(np.where(frontal, estimates, np.nan), axis=1)
    raise ValueError(f"unknown fusion method '{method}' (one of {', '.join(FUSION_RULES)})")


def fuse_points(views: list[ViewPrediction], points: np.ndarray, cfg: PredictConfig, method: str | None = None,
                sources: list[_SourceView] | None = None) -> np.ndarray:
    """(N,) fused distances at world points from every view that sees them (NaN where none does)."""
    sources = sources or [_SourceView(view) for view in views]
    tolerance = [cfg.depth_tolerance_factor * view.camera.pixel_size for view in views]
    reach = [cfg.reach_factor * view.camera.pixel_size for view in views]
    result = np.empty(len(points))
    for start in range(0, len(points), cfg.chunk_size):
        chunk = points[start : start + cfg.chunk_size]
        samples = [source.sample(chunk, tol, radius) for source, tol, radius in zip(sources, tolerance, reach,
                                                                                  strict=True)]
        estimates = np.stack([values for values, _ in samples], 1)
        cosines = np.stack([cosine for _, cosine in samples], 1)
        result[start : start + cfg.chunk_size] = combine(estimates, method or cfg.fusion, cfg, cosines)
    return result


def fuse_views(views: list[ViewPrediction], cfg: PredictConfig, method: str | None = None) -> list[np.ndarray]:
    """Fused distances for the surface points of every view (list aligned with `views`). A point's own view sees it
    at a pixel centre, so its own prediction is always one of its estimates."""
    sources = [_SourceView(view) for view in views]
    fused = [fuse_points(views, view.points, cfg, method, sources) for view in views]
    # Rounding can push a point's own pixel just outside the depth test on very steep pixels: keep its own value.
    return [np.where(np.isnan(values), view.distances, values) for values, view in zip(fused, views, strict=True)]
