"""Meshes (trimesh), point clouds and line sets (open3d), with clear errors and atomic writes."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np
import open3d as o3d
import trimesh

from ..errors import InputError, check_finite, check_shape
from .atomic import atomic_path, atomic_write


def _existing(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{what} '{path}' not found")
    return path


def read_mesh(path, require_watertight: bool = False) -> trimesh.Trimesh:
    """A triangle mesh with its vertex order kept (no merging or reordering)."""
    path = _existing(path, "mesh")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many unrelated types for unreadable files
        raise InputError(f"mesh '{path}' could not be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError(f"mesh '{path}' is empty (0 faces)")
    check_finite(mesh.vertices, f"mesh '{path}'")
    if require_watertight and not mesh.is_watertight:
        raise InputError(f"mesh '{path}' is not watertight")
    return mesh


def write_mesh(path, vertices, faces, vertex_colors=None) -> None:
    """PLY (binary) or OBJ by suffix; ``vertex_colors`` (V, 3|4) in [0, 1] or uint8."""
    path = pathlib.Path(path)
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    check_shape(vertices, (None, 3), "mesh vertices")
    check_shape(faces, (None, 3), "mesh faces")
    if vertex_colors is not None:
        vertex_colors = np.asarray(vertex_colors)
        if vertex_colors.dtype != np.uint8:
            vertex_colors = (np.clip(vertex_colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=vertex_colors, process=False)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("ply", "obj"):
        raise InputError(f"mesh '{path}' has unsupported suffix '{path.suffix}', expected .ply or .obj")
    data = mesh.export(file_type=suffix)
    with atomic_write(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


@dataclass
class PointCloud:
    points: np.ndarray  # (N, 3) float32
    colors: np.ndarray | None = None  # (N, 3) float32 in [0, 1]
    normals: np.ndarray | None = None  # (N, 3) float32


def _float32(a):
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32)


def read_point_cloud(path) -> PointCloud:
    """Points (and colours/normals when present) from PLY/PCD/XYZ/PTS via open3d, or NPY (N, 3|6: xyz[rgb])."""
    path = _existing(path, "point cloud")
    colors = normals = None
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"point cloud '{path}' could not be read ({type(exc).__name__})") from exc
        if data.ndim != 2 or data.shape[1] not in (3, 6):
            raise InputError(f"point cloud '{path}' has shape {data.shape}, expected (N, 3) or (N, 6)")
        points = data[:, :3]
        colors = data[:, 3:] if data.shape[1] == 6 else None
    else:
        if path.suffix.lower() == ".ply" and not path.read_bytes()[:3] == b"ply":
            raise InputError(f"point cloud '{path}' is not a PLY file (no 'ply' header)")
        cloud = o3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
        points = np.asarray(cloud.points)
        colors = np.asarray(cloud.colors) if cloud.has_colors() else None
        normals = np.asarray(cloud.normals) if cloud.has_normals() else None
    if len(points) == 0:
        raise InputError(f"point cloud '{path}' is empty or unreadable (0 points)")
    check_finite(points, f"point cloud '{path}'")
    return PointCloud(_float32(points), _float32(colors), _float32(normals))


def _vectors(values, n: int, name: str):
    values = np.asarray(values, dtype=np.float64)
    check_shape(values, (n, 3), name)
    check_finite(values, name)
    return o3d.utility.Vector3dVector(values)


def write_point_cloud(path, points, colors=None, normals=None) -> None:
    """Binary PLY (or what open3d writes for the suffix) with optional colours in [0, 1] and normals."""
    points = np.asarray(points)
    check_shape(points, (None, 3), "points")
    if len(points) == 0:
        raise InputError(f"point cloud for '{path}' is empty (0 points)")
    cloud = o3d.geometry.PointCloud(_vectors(points, None, "points"))
    if colors is not None:
        cloud.colors = _vectors(colors, len(points), "point colors")
    if normals is not None:
        cloud.normals = _vectors(normals, len(points), "point normals")
    with atomic_path(path) as tmp:
        if not o3d.io.write_point_cloud(str(tmp), cloud, write_ascii=False):
            raise InputError(f"point cloud '{path}' could not be written")


def write_line_set(path, points, edges, colors=None) -> None:
    """PLY with vertex and edge elements; ``edges`` (E, 2) vertex indices, ``colors`` (E, 3) per edge in [0, 1]."""
    points, edges = np.asarray(points), np.asarray(edges, dtype=np.int32)
    check_shape(edges, (None, 2), "line set edges")
    if edges.size and (edges.min() < 0 or edges.max() >= len(points)):
        raise InputError(f"line set edges index vertices outside 0..{len(points) - 1}")
    lines = o3d.geometry.LineSet(_vectors(points, None, "line set points"), o3d.utility.Vector2iVector(edges))
    if colors is not None:
        lines.colors = _vectors(colors, len(edges), "line set colors")
    with atomic_path(path) as tmp:
        if not o3d.io.write_line_set(str(tmp), lines, write_ascii=False):
            raise InputError(f"line set '{path}' could not be written")


def read_line_set(path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(points (N, 3), edges (E, 2), colors (E, 3) in [0, 1] or None)`` of a PLY line set."""
    path = _existing(path, "line set")
    if path.suffix.lower() == ".ply" and not path.read_bytes()[:3] == b"ply":
        raise InputError(f"line set '{path}' is not a PLY file (no 'ply' header)")
    lines = o3d.io.read_line_set(str(path))
    points, edges = np.asarray(lines.points), np.asarray(lines.lines)
    if len(edges) == 0:
        raise InputError(f"line set '{path}' has no edges")
    check_finite(points, f"line set '{path}'")
    colors = np.asarray(lines.colors) if lines.has_colors() else None
    return _float32(points), edges.astype(np.int64), _float32(colors)


def read_point_scalars(path, name: str) -> np.ndarray:
    """The per-point scalar property ``name`` (e.g. ``distance``) of a PLY cloud, as float32 (N,)."""
    path = _existing(path, "point cloud")
    cloud = o3d.t.io.read_point_cloud(str(path))
    if name not in cloud.point:
        raise InputError(f"point cloud '{path}' has no per-point '{name}'")
    values = cloud.point[name].numpy().reshape(-1).astype(np.float32)
    check_finite(values, f"'{name}' of point cloud '{path}'")
    return values
