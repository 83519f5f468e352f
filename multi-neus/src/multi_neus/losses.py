"""NeuS training losses: L1 colour, eikonal, mask binary cross-entropy."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .config import LossConfig


def neus_loss(render: dict[str, torch.Tensor], rgb: torch.Tensor, mask: torch.Tensor, cfg: LossConfig,
              mask_weight: float | None = None) -> dict[str, torch.Tensor]:
    mask_weight = cfg.mask_weight if mask_weight is None else mask_weight
    color = F.l1_loss(render["color"], rgb)
    mask_loss = F.binary_cross_entropy(render["weight_sum"].clamp(1e-3, 1.0 - 1e-3), mask)
    total = cfg.color_weight * color + cfg.eikonal_weight * render["eikonal"] + mask_weight * mask_loss
    return {"loss": total, "color": color, "eikonal": render["eikonal"], "mask": mask_loss}
