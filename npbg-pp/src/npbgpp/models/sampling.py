"""Bilinear sampling of a feature map at projected point positions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_bilinear(features: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """features (C, H, W), uv (N, 2) pixel coordinates (centres at c + 0.5) -> (N, C); zero outside."""
    height, width = features.shape[-2:]
    grid = torch.stack([2.0 * uv[:, 0] / width - 1.0, 2.0 * uv[:, 1] / height - 1.0], dim=-1)
    sampled = F.grid_sample(features[None], grid[None, None].to(features.dtype), mode="bilinear",
                            padding_mode="zeros", align_corners=False)
    return sampled[0, :, 0].T
