"""Seeding and device selection."""

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
