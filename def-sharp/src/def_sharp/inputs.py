"""Checked readers of the files a user hands to `predict` and `curves`: each bad file is refused here, at the
boundary, with one sentence naming the file and the problem (missing, empty, truncated, pickled, wrong shape,
NaN/Inf), before any computation starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shared_utils.errors import InputError, check_shape
from shared_utils.io import load_arrays, read_mesh, read_point_cloud

MESH_SUFFIXES = {".obj", ".stl", ".off", ".glb", ".gltf"}
POINT_CLOUD_SUFFIXES = {".ply", ".pcd", ".xyz", ".xyzn", ".xyzrgb", ".pts", ".npy"}
SCAN_SUFFIX = ".npz"


@dataclass
class RangeScans:
    depth: np.ndarray  # (V, H, W), 0 where nothing was hit
    c2w: np.ndarray  # (V, 4, 4) orthographic cameras (scanning.OrthoCamera convention)
    pixel_size: float


def read_range_scans(path: str | Path) -> RangeScans:
    """`.npz` with depth (V, H, W), c2w (V, 4, 4) and a positive scalar pixel_size, all finite."""
    arrays = load_arrays(path, required=("depth", "c2w", "pixel_size"))
    depth, c2w, pixel_size = arrays["depth"], arrays["c2w"], arrays["pixel_size"]
    for name, array in (("depth", depth), ("c2w", c2w), ("pixel_size", pixel_size)):
        if not np.issubdtype(array.dtype, np.number):
            raise InputError(f"range scans '{path}' entry '{name}' holds {array.dtype}, not numbers")
    check_shape(depth, (None, None, None), f"depth in range scans '{path}'")
    check_shape(c2w, (len(depth), 4, 4), f"c2w in range scans '{path}'")
    if len(depth) == 0 or not (depth > 0).any():
        raise InputError(f"range scans '{path}' hold no surface pixel (depth > 0)")
    if pixel_size.size != 1 or not float(pixel_size.reshape(-1)[0]) > 0:
        raise InputError(f"range scans '{path}' need one positive pixel_size, got {pixel_size.reshape(-1)[:3]}")
    rotations = c2w[:, :3, :3].astype(np.float64)
    if not np.allclose(rotations.transpose(0, 2, 1) @ rotations, np.eye(3), atol=1e-4):
        raise InputError(f"c2w in range scans '{path}' are not rigid camera poses (rotation part not orthonormal)")
    return RangeScans(depth.astype(np.float64), c2w.astype(np.float64), float(pixel_size.reshape(-1)[0]))


def read_points(path: str | Path) -> np.ndarray:
    """(N, 3) finite points of a non-empty point cloud file."""
    path = Path(path)
    if path.suffix.lower() == ".ply" and path.is_file():
        with open(path, "rb") as handle:
            # open3d's PLY parser prints its own complaint to stderr before failing: refuse non-PLY files first.
            if handle.read(4).rstrip() != b"ply":
                raise InputError(f"point cloud '{path}' is not a PLY file (it does not start with 'ply')")
    return read_point_cloud(path).points


def _ply_has_faces(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(4096).split(b"end_header")[0]
    return b"element face" in header and b"element face 0" not in header


def check_predict_input(path: str | Path) -> str:
    """Read the input of `predict` once with the checked readers; returns its kind: "scans", "mesh" or "points"."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input '{path}' does not exist")
    if not path.is_file():
        raise InputError(f"input '{path}' is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"input '{path}' is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == SCAN_SUFFIX:
        read_range_scans(path)
        return "scans"
    if suffix in MESH_SUFFIXES or (suffix == ".ply" and _ply_has_faces(path)):
        read_mesh(path)
        return "mesh"
    if suffix not in POINT_CLOUD_SUFFIXES:
        meshes, clouds = ", ".join(sorted(MESH_SUFFIXES)), ", ".join(sorted(POINT_CLOUD_SUFFIXES))
        raise InputError(f"input '{path}' has suffix '{path.suffix}': expected a mesh ({meshes}), a point cloud "
                         f"({clouds}) or range scans (.npz)")
    if suffix == ".npy":
        points = load_arrays(path)["array"]
        if points.ndim != 2 or points.shape[1] not in (3, 6) or len(points) == 0:
            raise InputError(f"point cloud '{path}' has shape {points.shape}, expected (N, 3) or (N, 6) with N > 0")
    read_points(path)
    return "points"


def read_distances(path: str | Path, n_points: int) -> np.ndarray:
    """(N,) finite, non-negative distances (the `.distances.npy` that `predict` writes beside its PLY)."""
    distances = load_arrays(path)["array"]
    if not np.issubdtype(distances.dtype, np.number):
        raise InputError(f"distances '{path}' hold {distances.dtype}, not numbers")
    check_shape(distances, (n_points,), f"distances '{path}' (one per point of the cloud)")
    if (distances < 0).any():
        raise InputError(f"distances '{path}' contain negative values")
    return distances.astype(np.float64)
