"""Orthographic range scanning by ray casting (trimesh + embree), as used to build DEF-Sim.

Camera frame (OpenCV-like): x = image right (columns), y = image down (rows), z = viewing direction. A camera is an
image plane of height x width pixels of size `pixel_size`, centred at `c2w[:3, 3]`; each pixel shoots one ray along
+z from its centre, and depth is the distance from the image plane to the first hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from shared_utils.errors import InputError


@dataclass
class OrthoCamera:
    c2w: np.ndarray  # (4, 4): columns are x (right), y (down), z (view direction) axes and the image-plane centre
    pixel_size: float
    height: int
    width: int

    @property
    def direction(self) -> np.ndarray:
        return self.c2w[:3, 2]

    def pixel_plane_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(H, W) camera-frame x and y of every pixel centre."""
        cols = (np.arange(self.width) + 0.5 - self.width / 2) * self.pixel_size
        rows = (np.arange(self.height) + 0.5 - self.height / 2) * self.pixel_size
        return np.meshgrid(cols, rows)

    def ray_origins(self) -> np.ndarray:
        """(H, W, 3) world positions of the pixel centres on the image plane."""
        x, y = self.pixel_plane_coordinates()
        return self.c2w[:3, 3] + x[..., None] * self.c2w[:3, 0] + y[..., None] * self.c2w[:3, 1]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) camera-frame (x, y, depth)."""
        return (points - self.c2w[:3, 3]) @ self.c2w[:3, :3]

    def to_pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) continuous pixel coordinates (u = column, v = row; centres at +0.5) and (N,) depth."""
        local = self.to_camera(points)
        uv = local[:, :2] / self.pixel_size + np.array([self.width / 2, self.height / 2])
        return uv, local[:, 2]

    def unproject(self, depth: np.ndarray) -> np.ndarray:
        """(H, W) depth -> (H, W, 3) world points."""
        return self.ray_origins() + depth[..., None] * self.direction


@dataclass
class RangeScan:
    depth: np.ndarray  # (H, W) float64, 0 where nothing was hit
    mask: np.ndarray  # (H, W) bool, True where a ray hit the surface
    face_index: np.ndarray  # (H, W) int64, -1 where nothing was hit
    points: np.ndarray  # (H, W, 3) exact (noise-free) surface points, 0 where nothing was hit


def camera_looking_along(
    direction: np.ndarray,
    target: np.ndarray,
    standoff: float,
    pixel_size: float,
    size: int,
    inplane_angle: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> OrthoCamera:
    """Camera whose image plane sits `standoff` before `target`, looking along `direction`, rotated about the view
    axis by `inplane_angle` and shifted in its plane by `shift` (world units along its x and y axes)."""
    z = np.asarray(direction, dtype=np.float64)
    z = z / np.linalg.norm(z)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    cos, sin = np.cos(inplane_angle), np.sin(inplane_angle)
    x, y = cos * x + sin * y, -sin * x + cos * y
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2] = x, y, z
    c2w[:3, 3] = np.asarray(target, dtype=np.float64) - standoff * z + shift[0] * x + shift[1] * y
    return OrthoCamera(c2w, float(pixel_size), int(size), int(size))


def scan(mesh: trimesh.Trimesh, camera: OrthoCamera) -> RangeScan:
    """Cast one ray per pixel and keep the first hit."""
    if len(mesh.faces) == 0:
        raise InputError("mesh is empty (0 faces)")
    origins = camera.ray_origins().reshape(-1, 3)
    directions = np.broadcast_to(camera.direction, origins.shape)
    locations, ray_index, face_index = mesh.ray.intersects_location(origins, directions, multiple_hits=False)
    n_pixels = camera.height * camera.width
    depth = np.zeros(n_pixels)
    faces = np.full(n_pixels, -1, dtype=np.int64)
    points = np.zeros((n_pixels, 3))
    hit_depth = np.einsum("nk,k->n", locations - origins[ray_index], camera.direction)
    # Keep hits in front of the plane only (the plane is placed outside the mesh, so all hits should be).
    front = hit_depth > 0
    ray_index, hit_depth = ray_index[front], hit_depth[front]
    depth[ray_index] = hit_depth
    faces[ray_index] = face_index[front]
    points[ray_index] = locations[front]
    shape = (camera.height, camera.width)
    return RangeScan(depth.reshape(shape), (faces >= 0).reshape(shape), faces.reshape(shape), points.reshape(*shape, 3))


def fibonacci_directions(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit vectors on the sphere."""
    index = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * index / n)
    azimuth = np.pi * (1 + 5**0.5) * index
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1)


def patch_view_grid(
    mesh: trimesh.Trimesh, n_directions: int, n_shifts: int, n_rotations: int, pixel_size: float, size: int
) -> list[tuple[np.ndarray, float, tuple[float, float]]]:
    """The DEF-Sim pose product: sphere directions x in-plane shifts (a square grid) x rotations about the view axis.

    Shifts cover the projected bounding sphere so that patches (size * pixel_size wide) tile the whole shape.
    """
    side = max(1, int(round(np.sqrt(n_shifts))))
    radius = float(np.linalg.norm(mesh.extents) / 2)
    reach = max(radius - size * pixel_size / 4, 0.0)
    offsets = np.linspace(-reach, reach, side) if side > 1 else np.zeros(1)
    angles = np.linspace(0, 2 * np.pi, n_rotations, endpoint=False)
    return [
        (direction, float(angle), (float(dx), float(dy)))
        for direction in fibonacci_directions(n_directions)
        for dx in offsets
        for dy in offsets
        for angle in angles
    ]


def add_depth_noise(scan_: RangeScan, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Depth with Gaussian noise along the view direction on hit pixels (the thesis's scanner noise model)."""
    noisy = scan_.depth + rng.normal(0.0, sigma, size=scan_.depth.shape) * (sigma > 0)
    return np.where(scan_.mask, noisy, 0.0)
