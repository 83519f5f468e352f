"""Multi-scale nearest-point rasterisation of point descriptors (vectorised scatter, CPU and CUDA)."""

from __future__ import annotations

import torch
from shared_utils.cameras import scale_intrinsics

from npbgpp.models.visibility import front_most, pixel_indices


def rasterize_nearest(
    points: torch.Tensor,
    descriptors: torch.Tensor,
    intrinsics: torch.Tensor,
    w2c: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """(C + 1, H, W): descriptor of the nearest point per pixel plus a coverage mask; zero background."""
    flat, depth, valid = pixel_indices(points, intrinsics, w2c, height, width)
    winner = front_most(flat, depth.detach(), valid, height * width)
    covered = winner >= 0
    channels = descriptors.shape[-1]
    image = descriptors.new_zeros(height * width, channels)
    image = image.index_put((torch.nonzero(covered).flatten(),), descriptors[winner[covered]])
    mask = covered.to(descriptors.dtype)[:, None]
    return torch.cat([image, mask], dim=1).T.reshape(channels + 1, height, width)


def rasterize_multiscale(
    points: torch.Tensor,
    descriptors: torch.Tensor,
    intrinsics: torch.Tensor,
    w2c: torch.Tensor,
    height: int,
    width: int,
    num_scales: int,
) -> list[torch.Tensor]:
    """Rasterisations at scales 1, 1/2, ..., 1/2^(num_scales-1); sizes must be divisible by 2^(num_scales-1)."""
    rasters = []
    for level in range(num_scales):
        factor = 2**level
        level_k = scale_intrinsics(intrinsics, 1.0 / factor, 1.0 / factor)
        rasters.append(rasterize_nearest(points, descriptors, level_k, w2c, height // factor, width // factor))
    return rasters
