"""Canonical up-axis alignment: turn each view so that the projected world up axis is vertical.

The canonical camera is the original one rotated about its optical axis (shared_utils.cameras), with its principal
point moved to the centre of a square canvas large enough to hold the whole rotated image (the image "padded to its
diagonal"). Image and camera are related by the homography K' Rz K^-1, which we apply with kornia.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from kornia.geometry.transform import warp_perspective
from shared_utils.cameras import rotate_camera_inplane, upright_angle


@dataclass
class CanonicalViews:
    intrinsics: torch.Tensor  # (V, 3, 3) of the canonical cameras
    w2c: torch.Tensor  # (V, 4, 4)
    homography: torch.Tensor  # (V, 3, 3): original pixel -> canonical pixel (pixel-centre convention)
    size: int  # the canvas is size x size
    height: int  # original image size
    width: int


def canonical_views(
    intrinsics: torch.Tensor,
    w2c: torch.Tensor,
    height: int,
    width: int,
    up=(0.0, 0.0, 1.0),
    pad_multiple: int = 32,
    align: bool = True,
) -> CanonicalViews:
    """Canonical cameras for (V, 3, 3) intrinsics and (V, 4, 4) poses; ``align=False`` keeps the orientation."""
    if align:
        angle = upright_angle(intrinsics, w2c, up)
    else:
        angle = torch.zeros(w2c.shape[:-2], dtype=w2c.dtype, device=w2c.device)
    w2c_canonical = rotate_camera_inplane(w2c, angle)
    # Rotation from the old camera frame to the new one (about the shared optical axis).
    in_plane = w2c_canonical[..., :3, :3] @ w2c[..., :3, :3].transpose(-1, -2)
    centred = intrinsics.clone()
    centred[..., 0, 2] = 0.0
    centred[..., 1, 2] = 0.0
    to_centred = centred @ in_plane @ torch.linalg.inv(intrinsics)
    corners = torch.tensor(
        [[0.0, 0.0, 1.0], [width, 0.0, 1.0], [0.0, height, 1.0], [width, height, 1.0]],
        dtype=intrinsics.dtype,
        device=intrinsics.device,
    )
    mapped = corners @ to_centred.transpose(-1, -2)
    half_extent = float((mapped[..., :2] / mapped[..., 2:]).abs().max())
    size = max(pad_multiple, int(math.ceil(2.0 * half_extent / pad_multiple - 1e-6)) * pad_multiple)
    canonical_k = centred.clone()
    canonical_k[..., 0, 2] = size / 2.0
    canonical_k[..., 1, 2] = size / 2.0
    homography = canonical_k @ in_plane @ torch.linalg.inv(intrinsics)
    return CanonicalViews(canonical_k, w2c_canonical, homography, size, height, width)


def _to_kornia(homography: torch.Tensor) -> torch.Tensor:
    """Our pixel centres sit at c + 0.5, kornia's (align_corners=True) at integers."""
    shift = torch.eye(3, dtype=homography.dtype, device=homography.device)
    shift[0, 2] = shift[1, 2] = 0.5
    unshift = torch.eye(3, dtype=homography.dtype, device=homography.device)
    unshift[0, 2] = unshift[1, 2] = -0.5
    return unshift @ homography @ shift


def warp_to_canonical(images: torch.Tensor, views: CanonicalViews) -> torch.Tensor:
    """(V, C, H, W) original images -> (V, C, S, S) canonical images (zero outside the original frame)."""
    return warp_perspective(images, _to_kornia(views.homography).to(images.dtype), (views.size, views.size),
                            align_corners=True)


def warp_from_canonical(images: torch.Tensor, views: CanonicalViews) -> torch.Tensor:
    """(V, C, S, S) canonical renders -> (V, C, H, W) in the original (query) orientation."""
    inverse = torch.linalg.inv(views.homography)
    return warp_perspective(images, _to_kornia(inverse).to(images.dtype), (views.height, views.width),
                            align_corners=True)
