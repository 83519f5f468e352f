"""Seeding, torch thread count and device selection."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .errors import InputError


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all CUDA devices included)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def use_threads(num_threads: int) -> None:
    """Pin torch's intra-op thread count; 0 keeps torch's default (one thread per core).

    A config carries it because the count is part of the result: reductions split across threads round differently,
    and thousands of training steps turn that into different last digits. One-thread runs also keep their speed when
    another job shares the cores."""
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 0:
        raise InputError(f"num_threads must be a whole number >= 0 (0: one per core), got {num_threads!r}")
    if num_threads:
        torch.set_num_threads(num_threads)


def select_device(preference: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; asking for CUDA without a GPU is an InputError."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as exc:
        raise InputError(f"device '{preference}' is not a valid torch device") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{preference}' was requested but no CUDA GPU is available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device '{preference}' does not exist ({torch.cuda.device_count()} GPUs visible)")
    return device
