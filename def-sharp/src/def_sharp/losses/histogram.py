"""Histogram loss (Imani & White 2018) for distance-to-feature regression, and the plain regression ablation.

The range [0, truncation] is split into `n_bins` bins, with `margin_bins` extra bins on either side so that a
Gaussian target centred near 0 or near the truncation keeps its mass. The target for distance d is a Gaussian
N(d, sigma^2) integrated over every bin and renormalised over all bins; the loss is KL(target || softmax(logits));
the prediction is the expected bin centre, clamped to [0, truncation].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class HistogramSpec:
    n_bins: int = 240
    margin_bins: int = 2
    truncation: float = 1.0
    sigma_bins: float = 1.0

    @property
    def bin_width(self) -> float:
        return self.truncation / self.n_bins

    @property
    def n_outputs(self) -> int:
        return self.n_bins + 2 * self.margin_bins

    def edges(self, device=None, dtype=torch.float32) -> torch.Tensor:
        index = torch.arange(-self.margin_bins, self.n_bins + self.margin_bins + 1, device=device, dtype=dtype)
        return index * self.bin_width

    def centres(self, device=None, dtype=torch.float32) -> torch.Tensor:
        edges = self.edges(device, dtype)
        return 0.5 * (edges[1:] + edges[:-1])


def histogram_target(distance: torch.Tensor, spec: HistogramSpec) -> torch.Tensor:
    """(...,) distances -> (..., n_outputs) bin probabilities of the truncated Gaussian target (sums to 1)."""
    edges = spec.edges(distance.device, distance.dtype)
    sigma = spec.sigma_bins * spec.bin_width
    cdf = torch.special.ndtr((edges - distance[..., None]) / sigma)
    mass = cdf[..., 1:] - cdf[..., :-1]
    return mass / mass.sum(dim=-1, keepdim=True)


def expected_distance(logits: torch.Tensor, spec: HistogramSpec, dim: int = 1) -> torch.Tensor:
    """Expected bin centre under softmax(logits) along `dim`, clamped to [0, truncation]."""
    probabilities = logits.softmax(dim=dim)
    shape = [1] * logits.dim()
    shape[dim] = spec.n_outputs
    centres = spec.centres(logits.device, logits.dtype).view(shape)
    return (probabilities * centres).sum(dim=dim).clamp(0.0, spec.truncation)


def histogram_loss(
    logits: torch.Tensor, distance: torch.Tensor, mask: torch.Tensor, spec: HistogramSpec
) -> torch.Tensor:
    """Mean over masked pixels of KL(target || softmax). logits (B, K, H, W); distance, mask (B, H, W)."""
    log_probabilities = F.log_softmax(logits, dim=1).movedim(1, -1)[mask]  # (P, K)
    target = histogram_target(distance[mask], spec)
    kl = (torch.special.xlogy(target, target) - target * log_probabilities).sum(-1)
    return kl.mean() if kl.numel() else logits.sum() * 0.0


def regression_loss(prediction: torch.Tensor, distance: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over masked pixels (the plain-regression ablation)."""
    error = (prediction - distance)[mask]
    return (error**2).mean() if error.numel() else prediction.sum() * 0.0
