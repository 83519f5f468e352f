"""Pinhole intrinsics, projection and rays (OpenCV axes; pixel (r, c) has its centre at (c + 0.5, r + 0.5))."""

from __future__ import annotations

import math

import torch


def intrinsics_matrix(fx, fy, cx, cy) -> torch.Tensor:
    """K (..., 3, 3) from scalars or broadcastable tensors."""
    values = [v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.get_default_dtype())
              for v in (fx, fy, cx, cy)]
    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    fx, fy, cx, cy = torch.broadcast_tensors(*[v.to(dtype) for v in values])
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    rows = [fx, zero, cx, zero, fy, cy, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(*fx.shape, 3, 3)


def focal_from_fov(fov_rad, size_px):
    """Focal length in pixels for a full field of view ``fov_rad`` spanning ``size_px`` pixels."""
    if isinstance(fov_rad, torch.Tensor):
        return 0.5 * size_px / torch.tan(0.5 * fov_rad)
    return 0.5 * size_px / math.tan(0.5 * fov_rad)


def scale_intrinsics(K: torch.Tensor, sx, sy) -> torch.Tensor:
    """K for the image resized by (sx, sy); image edges (not pixel centres) map onto each other."""
    sx, sy = (torch.as_tensor(v, dtype=K.dtype, device=K.device) for v in (sx, sy))
    sx, sy = torch.broadcast_tensors(sx, sy)
    rows = torch.stack([sx, sy, torch.ones_like(sx)], dim=-1)
    return rows[..., :, None] * K


def _transform(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    return points @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def project(points: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor):
    """World points (..., N, 3) -> pixel coordinates (..., N, 2) and camera depth z (..., N)."""
    cam = _transform(points, w2c)
    pix = cam @ K.transpose(-1, -2)
    depth = cam[..., 2]
    return pix[..., :2] / pix[..., 2:3], depth


def unproject(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """Pixels (..., N, 2) at camera depth z (..., N) -> world points (..., N, 3)."""
    homogeneous = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    cam = homogeneous @ torch.linalg.inv(K).transpose(-1, -2) * depth[..., None]
    return _transform(cam, c2w)


def pixel_centers(height: int, width: int, device=None) -> torch.Tensor:
    """(H, W, 2) pixel-centre coordinates (u, v) = (c + 0.5, r + 0.5)."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1)


def pixel_rays(K: torch.Tensor, c2w: torch.Tensor, height: int, width: int):
    """World rays through every pixel centre: origins and unit directions, each (..., H, W, 3)."""
    uv = pixel_centers(height, width, device=K.device).to(K.dtype)
    homogeneous = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    # Fold K^-1 and the camera rotation into one matrix per camera before touching every pixel.
    M = c2w[..., :3, :3] @ torch.linalg.inv(K)
    directions = torch.einsum("...ij,hwj->...hwi", M, homogeneous)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = c2w[..., None, None, :3, 3].expand_as(directions)
    return origins, directions
