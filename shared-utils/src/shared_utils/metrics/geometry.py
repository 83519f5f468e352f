"""Point-set metrics and alignment (numpy in, numpy out)."""

from __future__ import annotations

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from ..errors import InputError, check_finite, check_shape


def _points(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    check_shape(x, (None, 3), name)
    if len(x) == 0:
        raise InputError(f"{name} is empty (0 points)")
    check_finite(x, name)
    return x


def nearest_distances(a, b) -> np.ndarray:
    """Euclidean distance from each point of ``a`` (N, 3) to its nearest neighbour in ``b`` (M, 3)."""
    a, b = _points(a, "a"), _points(b, "b")
    return cKDTree(b).query(a, k=1)[0]


def chamfer_distance(a, b, direction: str = "bidirectional") -> float:
    """Mean nearest-neighbour distance a->b, b->a, or the mean of both (not squared)."""
    if direction == "a_to_b":
        return float(nearest_distances(a, b).mean())
    if direction == "b_to_a":
        return float(nearest_distances(b, a).mean())
    if direction == "bidirectional":
        return 0.5 * (float(nearest_distances(a, b).mean()) + float(nearest_distances(b, a).mean()))
    raise InputError(f"chamfer direction '{direction}' is invalid, expected 'a_to_b', 'b_to_a' or 'bidirectional'")


def _cloud(points: np.ndarray) -> o3d.geometry.PointCloud:
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))


def icp_align(source, target, *, max_correspondence_distance: float, init=None, iterations: int = 50,
              point_to_plane: bool = False):
    """Rigid (4, 4) transform mapping ``source`` onto ``target`` by ICP, with its fitness and inlier RMSE."""
    src, tgt = _cloud(_points(source, "source")), _cloud(_points(target, "target"))
    init = np.eye(4) if init is None else np.asarray(init, dtype=np.float64)
    check_shape(init, (4, 4), "init")
    if point_to_plane:
        tgt.estimate_normals()
        estimation = o3d.pipelines.registration.TransformationEstimationPointToPlane()
    else:
        estimation = o3d.pipelines.registration.TransformationEstimationPointToPoint()
    result = o3d.pipelines.registration.registration_icp(
        src, tgt, max_correspondence_distance, init, estimation,
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=iterations),
    )
    return np.asarray(result.transformation).copy(), float(result.fitness), float(result.inlier_rmse)
