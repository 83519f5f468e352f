"""Camera placement: look-at, orbits, and the in-plane rotation that makes the world up axis vertical."""

from __future__ import annotations

import math

import torch

from ..errors import InputError


def _as_tensor(x, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    return torch.as_tensor(x, dtype=dtype, device=None if like is None else like.device)


def _normalize(v: torch.Tensor, what: str) -> torch.Tensor:
    norm = v.norm(dim=-1, keepdim=True)
    if bool((norm < 1e-12).any()):
        raise InputError(f"look_at is degenerate: {what}")
    return v / norm


def look_at(eye, target, up) -> torch.Tensor:
    """OpenCV c2w (..., 4, 4) at ``eye`` whose z axis points at ``target`` and whose -y axis leans towards ``up``."""
    eye = _as_tensor(eye)
    target, up = _as_tensor(target, eye), _as_tensor(up, eye)
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    z = _normalize(target - eye, "eye and target coincide")
    x = _normalize(torch.linalg.cross(z, up), "the viewing direction is parallel to up")
    y = torch.linalg.cross(z, x)
    top = torch.stack([x, y, z, eye], dim=-1)
    bottom = eye.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*eye.shape[:-1], 1, 4)
    return torch.cat([top, bottom], dim=-2)


def orbit_poses(n: int, radius: float, elevation_deg: float, target=(0, 0, 0), up=(0, 0, 1),
                start_azimuth_deg: float = 0.0) -> torch.Tensor:
    """``n`` OpenCV c2w (n, 4, 4) evenly spaced in azimuth on a circle around ``target``, looking at it."""
    target = _as_tensor(target)
    up = _as_tensor(up, target)
    up = up / up.norm()
    # Any vector not parallel to up gives the azimuth-zero direction; for up = +z it is +x.
    helper = up.new_tensor([1.0, 0.0, 0.0] if abs(float(up[0])) < 0.9 else [0.0, 1.0, 0.0])
    a = helper - (helper @ up) * up
    a = a / a.norm()
    b = torch.linalg.cross(up, a)
    azimuth = torch.deg2rad(start_azimuth_deg + 360.0 * torch.arange(n, dtype=target.dtype) / n)
    elevation = math.radians(elevation_deg)
    direction = math.cos(elevation) * (torch.cos(azimuth)[:, None] * a + torch.sin(azimuth)[:, None] * b)
    eye = target + radius * (direction + math.sin(elevation) * up)
    return look_at(eye, target.expand_as(eye), up.expand_as(eye))


def upright_angle(K: torch.Tensor, w2c: torch.Tensor, up=(0, 0, 1)) -> torch.Tensor:
    """Counter-clockwise (as displayed) in-plane angle (...) that turns the projected world up towards -v.

    The direction is measured in normalised camera coordinates (K^-1 pixels), where rotating the image about
    the principal point is exactly a rotation of the camera about its optical axis; for square pixels this is
    the same angle as in pixels. ``K`` takes part only in the batch shape of the result.
    """
    up = _as_tensor(up, w2c)
    d = w2c[..., :3, :3] @ up
    batch = torch.broadcast_shapes(K.shape[:-2], w2c.shape[:-2])
    # Displayed images have v downwards, so counter-clockwise angles are measured against -v.
    return (math.pi / 2 - torch.atan2(-d[..., 1], d[..., 0])).expand(batch)


def rotate_camera_inplane(w2c: torch.Tensor, angle) -> torch.Tensor:
    """Rotate cameras about their optical axis so the new image is the old one turned ``angle`` counter-clockwise."""
    angle = _as_tensor(angle, w2c)
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    Rz = torch.stack([c, s, zero, zero, -s, c, zero, zero, zero, zero, one, zero, zero, zero, zero, one], -1)
    return Rz.reshape(*angle.shape, 4, 4) @ w2c
