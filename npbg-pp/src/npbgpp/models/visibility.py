"""Point visibility by a z-buffer, and the nearest-point selection shared with the rasteriser."""

from __future__ import annotations

import torch
from shared_utils.cameras import project, scale_intrinsics

NEAR_PLANE = 1e-4


def pixel_indices(points: torch.Tensor, intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int):
    """Flat pixel index (N,), depth (N,), and a mask of points in front of the camera and inside the image."""
    uv, depth = project(points, intrinsics, w2c)
    column = torch.floor(uv[..., 0])
    row = torch.floor(uv[..., 1])
    valid = (depth > NEAR_PLANE) & (column >= 0) & (column < width) & (row >= 0) & (row < height)
    valid &= torch.isfinite(uv).all(-1)
    flat = (row.clamp(0, height - 1) * width + column.clamp(0, width - 1)).long()
    return flat, depth, valid


def front_most(flat: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, num_pixels: int) -> torch.Tensor:
    """Index of the nearest valid point of every pixel (-1 for empty pixels); ties go to the lowest index."""
    big_depth = torch.full((num_pixels,), float("inf"), dtype=depth.dtype, device=depth.device)
    pixel_depth = big_depth.scatter_reduce(0, flat[valid], depth[valid], reduce="amin")
    point_ids = torch.arange(flat.shape[0], device=flat.device)
    candidate = valid & (depth == pixel_depth[flat])
    sentinel = torch.full((num_pixels,), flat.shape[0], dtype=torch.long, device=flat.device)
    winner = sentinel.scatter_reduce(0, flat[candidate], point_ids[candidate], reduce="amin")
    return torch.where(winner == flat.shape[0], torch.full_like(winner, -1), winner)


def zbuffer_visibility(
    points: torch.Tensor, intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int, scale: float = 1.0
) -> torch.Tensor:
    """(N,) bool: the point is the front-most one of its pixel in a z-buffer of the image resized by ``scale``."""
    low_height = max(1, int(round(height * scale)))
    low_width = max(1, int(round(width * scale)))
    low_k = scale_intrinsics(intrinsics, low_width / width, low_height / height)
    flat, depth, valid = pixel_indices(points, low_k, w2c, low_height, low_width)
    winner = front_most(flat, depth.detach(), valid, low_height * low_width)
    visible = torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
    visible[winner[winner >= 0]] = True
    return visible
