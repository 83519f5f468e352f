"""Ray construction with camera corrections and ray / unit-sphere bounds."""

from __future__ import annotations

import torch

from .se3 import se3_exp


def camera_rays(
    pixels: torch.Tensor,
    intrinsics: torch.Tensor,
    c2w: torch.Tensor,
    pose_correction: torch.Tensor | None = None,
    log_focal_correction: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixel positions (N, 2) (u, v; pixel centres at +0.5) of OpenCV cameras (N, 3, 3), (N, 4, 4).

    ``pose_correction`` (N, 6) is an se(3) twist applied in the camera frame (c2w' = c2w exp(xi), BARF-style);
    ``log_focal_correction`` (N, 2) holds the logarithms of the coefficients that multiply fx and fy (the thesis's
    learnable focal coefficients, one per axis). Returns unit directions.
    """
    fx, fy = intrinsics[:, 0, 0], intrinsics[:, 1, 1]
    if log_focal_correction is not None:
        coefficients = torch.exp(log_focal_correction)
        fx, fy = fx * coefficients[:, 0], fy * coefficients[:, 1]
    x = (pixels[:, 0] - intrinsics[:, 0, 2]) / fx
    y = (pixels[:, 1] - intrinsics[:, 1, 2]) / fy
    directions_cam = torch.stack([x, y, torch.ones_like(x)], -1)
    if pose_correction is not None:
        c2w = c2w @ se3_exp(pose_correction)
    directions = (c2w[:, :3, :3] @ directions_cam[..., None])[..., 0]
    directions = directions / directions.norm(dim=-1, keepdim=True)
    return c2w[:, :3, 3], directions


def near_far_unit_sphere(origins: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth range [mid - 1, mid + 1] around the closest approach to the origin (as NeuS); near clamped >= 0."""
    mid = -(origins * directions).sum(-1, keepdim=True)
    near = (mid - 1.0).clamp_min(0.0)
    return near, mid + 1.0
