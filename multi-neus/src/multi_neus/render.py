"""Pictures: volume renders of a fitted scene from given cameras, and a shaded turntable of a mesh."""

from __future__ import annotations

import math

import numpy as np
import torch
import trimesh
from shared_utils.cameras import intrinsics_matrix, look_at

from .config import RendererConfig
from .geometry.rays import camera_rays
from .models.multi_neus import MultiNeuS
from .models.renderer import render_rays_chunked

LIGHT = np.array([0.3, -0.8, 0.6]) / np.linalg.norm([0.3, -0.8, 0.6])


@torch.no_grad()
def render_view(model: MultiNeuS, scene: int, intrinsics: np.ndarray, c2w_normalized: np.ndarray, height: int,
                width: int, cfg: RendererConfig) -> dict[str, np.ndarray]:
    """(H, W, 3) colour, (H, W) opacity and (H, W, 3) normal-map renders of one camera in the normalised space."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    pixels = torch.stack([cols.flatten() + 0.5, rows.flatten() + 0.5], -1).float()
    n = pixels.shape[0]
    k = torch.as_tensor(intrinsics, dtype=torch.float32).expand(n, 3, 3)
    c2w = torch.as_tensor(c2w_normalized, dtype=torch.float32).expand(n, 4, 4)
    origins, directions = camera_rays(pixels, k, c2w)
    out = render_rays_chunked(model, scene, origins, directions, cfg)
    normal = torch.nn.functional.normalize(out["normal"], dim=-1) * 0.5 + 0.5
    return {
        "color": out["color"].reshape(height, width, 3).clamp(0, 1).numpy(),
        "opacity": out["weight_sum"].reshape(height, width).numpy(),
        "normal": (normal * out["weight_sum"]).reshape(height, width, 3).numpy(),
    }


def turntable_cameras(frames: int, size: int, distance: float, fov_deg: float = 30.0, elevation_deg: float = 10.0):
    """Intrinsics and world c2w (OpenCV) circling the head (z up, face towards -y), starting in front."""
    focal = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    k = intrinsics_matrix(focal, focal, size / 2, size / 2).double()
    angles = torch.arange(frames, dtype=torch.float64) * 2 * math.pi / frames
    el = math.radians(elevation_deg)
    eye = torch.stack(
        [distance * torch.sin(angles) * math.cos(el), -distance * torch.cos(angles) * math.cos(el),
         torch.full_like(angles, distance * math.sin(el))], -1)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand_as(eye)
    return k.numpy(), look_at(eye, torch.zeros_like(eye), up).numpy()


def shade_mesh(mesh: trimesh.Trimesh, intrinsics: np.ndarray, c2w: np.ndarray, size: int,
               background: float = 1.0) -> np.ndarray:
    """Ray-cast (embree when available) image of a mesh: vertex colours times Lambert + ambient shading."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    x = (cols.ravel() + 0.5 - intrinsics[0, 2]) / intrinsics[0, 0]
    y = (rows.ravel() + 0.5 - intrinsics[1, 2]) / intrinsics[1, 1]
    directions = np.stack([x, y, np.ones_like(x)], -1) @ c2w[:3, :3].T
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    origins = np.broadcast_to(c2w[:3, 3], directions.shape)
    image = np.full((size * size, 3), background, dtype=np.float64)
    locations, ray_index, tri_index = mesh.ray.intersects_location(origins, directions, multiple_hits=False)
    if len(ray_index):
        triangles = mesh.triangles[tri_index]
        bary = trimesh.triangles.points_to_barycentric(triangles, locations)
        colors = mesh.visual.vertex_colors[:, :3].astype(np.float64) / 255.0
        albedo = (colors[mesh.faces[tri_index]] * bary[..., None]).sum(1)
        normals = mesh.face_normals[tri_index]
        lambert = np.abs(normals @ LIGHT)
        image[ray_index] = albedo * (0.35 + 0.65 * lambert)[:, None]
    return image.reshape(size, size, 3).clip(0, 1).astype(np.float32)


def turntable(mesh: trimesh.Trimesh, frames: int, size: int, distance: float) -> np.ndarray:
    k, c2w = turntable_cameras(frames, size, distance)
    return np.stack([shade_mesh(mesh, k, pose, size) for pose in c2w])
