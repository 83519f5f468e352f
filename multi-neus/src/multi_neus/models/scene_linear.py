"""Linear layer whose weights are scene-specific: a shared low-rank basis with per-scene coefficients.

For rank R > 0 the weight of scene s is W_s = sum_r c_{s,r} B_r (and likewise the bias): the basis B (R, out, in)
is shared, only the coefficient vector c_s (R,) belongs to the scene. Rank 0 means every scene owns an independent
full copy of the layer. Per-scene tensors are separate Parameters so that an optimiser step on one scene leaves the
other scenes' parameters (and their Adam moments) untouched: their gradients stay None.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

WeightSampler = Callable[[], tuple[torch.Tensor, torch.Tensor]]


class SceneLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, num_scenes: int, rank: int):
        super().__init__()
        if num_scenes < 1:
            raise ValueError(f"SceneLinear needs at least one scene, got {num_scenes}")
        if rank < 0:
            raise ValueError(f"SceneLinear rank must be >= 0, got {rank}")
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        if rank == 0:
            self.weights = nn.ParameterList(
                [nn.Parameter(torch.empty(out_features, in_features)) for _ in range(num_scenes)]
            )
            self.biases = nn.ParameterList([nn.Parameter(torch.empty(out_features)) for _ in range(num_scenes)])
        else:
            self.basis_weight = nn.Parameter(torch.empty(rank, out_features, in_features))
            self.basis_bias = nn.Parameter(torch.empty(rank, out_features))
            self.coefficients = nn.ParameterList([nn.Parameter(torch.empty(rank)) for _ in range(num_scenes)])
        self.initialize(lambda: _default_init(in_features, out_features))

    @property
    def num_scenes(self) -> int:
        return len(self.weights) if self.rank == 0 else len(self.coefficients)

    @torch.no_grad()
    def initialize(self, sampler: WeightSampler) -> None:
        """Give every scene the same initial layer ``sampler()`` (e.g. a geometric initialisation draw).

        With rank R the basis holds R further random draws, centred and shifted so that the initial coefficients
        1/sqrt(R) reproduce the target weight exactly while the basis directions stay random at the init scale.
        """
        weight, bias = sampler()
        if self.rank == 0:
            for w, b in zip(self.weights, self.biases, strict=True):
                w.copy_(weight)
                b.copy_(bias)
            return
        draws = [sampler() for _ in range(self.rank)]
        basis_w = torch.stack([d[0] for d in draws])
        basis_b = torch.stack([d[1] for d in draws])
        scale = math.sqrt(self.rank)
        self.basis_weight.copy_(basis_w - basis_w.mean(0) + weight / scale)
        self.basis_bias.copy_(basis_b - basis_b.mean(0) + bias / scale)
        for c in self.coefficients:
            c.fill_(1.0 / scale)

    def weight_and_bias(self, scene: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.rank == 0:
            return self.weights[scene], self.biases[scene]
        c = self.coefficients[scene]
        return torch.einsum("r,roi->oi", c, self.basis_weight), c @ self.basis_bias

    def forward(self, x: torch.Tensor, scene: int) -> torch.Tensor:
        weight, bias = self.weight_and_bias(scene)
        return F.linear(x, weight, bias)

    def scene_parameters(self, scene: int) -> list[nn.Parameter]:
        if self.rank == 0:
            return [self.weights[scene], self.biases[scene]]
        return [self.coefficients[scene]]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [] if self.rank == 0 else [self.basis_weight, self.basis_bias]


def _default_init(in_features: int, out_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    layer = nn.Linear(in_features, out_features)
    return layer.weight.detach().clone(), layer.bias.detach().clone()
