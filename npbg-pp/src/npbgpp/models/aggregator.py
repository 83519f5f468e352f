"""Online view-dependent descriptor aggregation (thesis eq. 3-5).

Every point's descriptor is y(v) = H(v) beta + beta0 with a learnable basis H over view directions. Views are
consumed one at a time; per point we keep five running sums (K, sum y, sum H^T y, sum H^T, sum H^T H), whose size
does not depend on the number of views, and solve the ridge regression once at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


class HarmonicBasis(nn.Module):
    """H: unit view direction (..., 3) -> (..., m) = MLP(sin/cos of v at frequencies pi/2 * 2^k)."""

    def __init__(self, basis_size: int = 6, hidden=(16, 16), num_frequencies: int = 3) -> None:
        super().__init__()
        self.register_buffer(
            "frequencies", torch.tensor([math.pi / 2 * 2**k for k in range(num_frequencies)]), persistent=False
        )
        layers: list[nn.Module] = []
        width = 6 * num_frequencies
        for hidden_width in hidden:
            layers += [nn.Linear(width, hidden_width), nn.LeakyReLU(0.2)]
            width = hidden_width
        layers.append(nn.Linear(width, basis_size))
        self.mlp = nn.Sequential(*layers)
        self.basis_size = basis_size

    def embed(self, directions: torch.Tensor) -> torch.Tensor:
        angles = directions[..., None, :] * self.frequencies[:, None].to(directions.dtype)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-2).flatten(-2)

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(directions))


@dataclass
class AggregationState:
    """The five running states of eq. 4-5 for N points, m basis functions, c descriptor channels."""

    count: torch.Tensor  # (N,)
    sum_y: torch.Tensor  # (N, c)
    sum_h_y: torch.Tensor  # (N, m, c)
    sum_h: torch.Tensor  # (N, m)
    sum_h_h: torch.Tensor  # (N, m, m)

    @classmethod
    def zeros(cls, num_points: int, basis_size: int, channels: int, device=None, dtype=torch.float32):
        def z(*shape):
            return torch.zeros(*shape, device=device, dtype=dtype)

        return cls(z(num_points), z(num_points, channels), z(num_points, basis_size, channels),
                   z(num_points, basis_size), z(num_points, basis_size, basis_size))

    def update(self, point_ids: torch.Tensor, basis: torch.Tensor, samples: torch.Tensor) -> AggregationState:
        """Add samples y_k (n, c) with basis rows H(v_k) (n, m) of points ``point_ids`` (n,) (repeats allowed).

        Out of place, so gradients flow to the basis MLP and the feature extractor during training.
        """
        ones = torch.ones_like(point_ids, dtype=self.count.dtype)
        return AggregationState(
            self.count.index_add(0, point_ids, ones),
            self.sum_y.index_add(0, point_ids, samples),
            self.sum_h_y.index_add(0, point_ids, basis[:, :, None] * samples[:, None, :]),
            self.sum_h.index_add(0, point_ids, basis),
            self.sum_h_h.index_add(0, point_ids, basis[:, :, None] * basis[:, None, :]),
        )

    def solve(self, alpha: float = 1.0):
        """(beta (N', m, c), beta0 (N', c), seen (N,) bool); points seen in no view are dropped."""
        seen = self.count > 0
        count = self.count[seen][:, None]
        beta0 = self.sum_y[seen] / count
        mean_h_y = self.sum_h_y[seen] / count[..., None]
        mean_h = self.sum_h[seen] / count
        residual = mean_h_y - mean_h[:, :, None] * beta0[:, None, :]
        identity = torch.eye(self.sum_h_h.shape[-1], dtype=count.dtype, device=count.device)
        gram = self.sum_h_h[seen] / count[..., None] + alpha / count[..., None] * identity
        beta = torch.linalg.solve(gram, residual)
        return beta, beta0, seen


def evaluate_descriptors(basis: torch.Tensor, beta: torch.Tensor, beta0: torch.Tensor) -> torch.Tensor:
    """Eq. 3: y(v) = H(v) beta + beta0 for basis rows (N, m), beta (N, m, c), beta0 (N, c) -> (N, c)."""
    return torch.einsum("nm,nmc->nc", basis, beta) + beta0
