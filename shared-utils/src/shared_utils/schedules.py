"""Learning-rate schedules as multipliers of the base rate, in a functional and a ``LambdaLR`` form."""

from __future__ import annotations

import functools
import math

import torch


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, floor: float = 0.0) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then cosine decay to ``floor`` at ``total_steps``."""
    if warmup_steps < 0 or total_steps <= 0:
        raise ValueError(f"warm-up/cosine schedule needs warmup_steps >= 0 and total_steps > 0, "
                         f"got {warmup_steps} and {total_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                            floor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over :func:`warmup_cosine_factor`; step it once per optimiser step."""
    factor = functools.partial(warmup_cosine_factor, warmup_steps=warmup_steps, total_steps=total_steps, floor=floor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
