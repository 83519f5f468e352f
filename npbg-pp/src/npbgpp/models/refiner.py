"""Rendering network: U-Net of gated convolutions fed with the multi-scale rasterisations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedConv2d(nn.Module):
    """ELU(features) * sigmoid(gate), both from one 3x3 convolution with reflect padding."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, 3, padding=1, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(features) * torch.sigmoid(gate)


class GatedUNetRefiner(nn.Module):
    """Level k receives the rasterisation at scale 1/2^k next to the average-pooled features of level k-1."""

    def __init__(self, descriptor_channels: int, channels=(16, 32, 48, 64, 80), out_channels: int = 3) -> None:
        super().__init__()
        raster_channels = descriptor_channels + 1
        self.down = nn.ModuleList()
        previous = 0
        for width in channels:
            self.down.append(nn.Sequential(GatedConv2d(previous + raster_channels, width), GatedConv2d(width, width)))
            previous = width
        self.up = nn.ModuleList()
        for level in range(len(channels) - 1, 0, -1):
            self.up.append(GatedConv2d(channels[level] + channels[level - 1], channels[level - 1]))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        nn.init.constant_(self.head.bias, 0.5)
        self.num_scales = len(channels)

    def forward(self, rasters: list[torch.Tensor]) -> torch.Tensor:
        """rasters: num_scales tensors (B, C + 1, H / 2^k, W / 2^k) -> (B, 3, H, W)."""
        if len(rasters) != self.num_scales:
            raise ValueError(f"the refiner expects {self.num_scales} scales, got {len(rasters)}")
        skips = []
        x = None
        for level, block in enumerate(self.down):
            inputs = rasters[level] if x is None else torch.cat([F.avg_pool2d(x, 2), rasters[level]], dim=1)
            x = block(inputs)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)
