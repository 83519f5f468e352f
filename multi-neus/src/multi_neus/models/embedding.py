"""NeRF positional encoding: x -> (x, sin(2^k x), cos(2^k x)) for k < multires."""

from __future__ import annotations

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    def __init__(self, input_dim: int, multires: int):
        super().__init__()
        self.input_dim = input_dim
        self.multires = multires
        self.register_buffer("frequencies", 2.0 ** torch.arange(multires, dtype=torch.float32), persistent=False)

    @property
    def output_dim(self) -> int:
        return self.input_dim * (1 + 2 * self.multires)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.multires == 0:
            return x
        scaled = x[..., None, :] * self.frequencies[:, None]
        encoded = torch.stack([torch.sin(scaled), torch.cos(scaled)], -2).flatten(-3)
        return torch.cat([x, encoded], -1)
