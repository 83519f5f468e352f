"""Exact truncated distance-to-feature labels d(p) = min(||q(p) - p||, eps) (thesis section 3.2)."""

from __future__ import annotations

import numpy as np

from def_sharp.geometry.features import FeatureCurves


def point_segment_distances(points: np.ndarray, seg_a: np.ndarray, seg_b: np.ndarray) -> np.ndarray:
    """(N, S) Euclidean distances from every point to every closed segment [a, b]."""
    direction = seg_b - seg_a  # (S, 3)
    length_sq = np.einsum("sk,sk->s", direction, direction)
    offset = points[:, None, :] - seg_a[None, :, :]  # (N, S, 3)
    # Degenerate segments are points: their parameter is 0.
    t = np.einsum("nsk,sk->ns", offset, direction) / np.where(length_sq > 0, length_sq, 1.0)
    t = np.clip(t, 0.0, 1.0)
    closest = seg_a[None] + t[..., None] * direction[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=-1)


def min_segment_distance(
    points: np.ndarray, seg_a: np.ndarray, seg_b: np.ndarray, chunk_elements: int = 4_000_000
) -> np.ndarray:
    """Distance from each point to the nearest of the segments, chunked over points to bound memory."""
    if len(seg_a) == 0:
        return np.full(len(points), np.inf)
    result = np.empty(len(points))
    chunk = max(1, chunk_elements // len(seg_a))
    for start in range(0, len(points), chunk):
        result[start : start + chunk] = point_segment_distances(points[start : start + chunk], seg_a, seg_b).min(1)
    return result


def truncated_feature_distance(
    points: np.ndarray, face_index: np.ndarray, curves: FeatureCurves, truncation: float
) -> np.ndarray:
    """Label of each surface point: distance to the nearest sharp segment adjacent to its surface patch, truncated.

    points: (N, 3) points on the mesh surface; face_index: (N,) the face each point lies on.
    Restricting to curves adjacent to the point's own patch follows DEF-Sim: a feature on a surface that is not
    connected to the point's patch (e.g. the far side of a thin wall) must not count as near.
    """
    distance = np.full(len(points), float(truncation))
    if len(points) == 0 or len(curves.segments) == 0:
        return distance
    seg_a, seg_b = curves.segment_endpoints
    point_patch = curves.face_patch[face_index]
    for patch in np.unique(point_patch):
        adjacent = np.flatnonzero((curves.segment_patches == patch).any(axis=1))
        if len(adjacent) == 0:
            continue
        members = np.flatnonzero(point_patch == patch)
        nearest = min_segment_distance(points[members], seg_a[adjacent], seg_b[adjacent])
        distance[members] = np.minimum(nearest, truncation)
    return distance
