"""Full-reference image metrics on torch tensors (..., C, H, W)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


def _prepare(pred: torch.Tensor, target: torch.Tensor, crop_border: int):
    if pred.shape != target.shape:
        raise InputError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    if pred.dim() < 3:
        raise InputError(f"images have shape {tuple(pred.shape)}, expected (..., C, H, W)")
    if crop_border:
        pred = pred[..., crop_border:-crop_border, crop_border:-crop_border]
        target = target[..., crop_border:-crop_border, crop_border:-crop_border]
    return pred, target


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, crop_border: int = 0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (...)."""
    pred, target = _prepare(pred, target, crop_border)
    mse = (pred - target).pow(2).flatten(-3).mean(-1)
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_window(sigma: float, size: int, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, crop_border: int = 0) -> torch.Tensor:
    """Mean structural similarity per image (...), as scikit-image with ``gaussian_weights=True``.

    11-tap Gaussian window (sigma 1.5), population covariances, and only positions where the whole window fits
    (scikit-image computes the map with padding and then drops that border before averaging).
    """
    pred, target = _prepare(pred, target, crop_border)
    *batch, C, H, W = pred.shape
    if H < 11 or W < 11:
        raise InputError(f"images of size {H}x{W} are smaller than the 11x11 SSIM window")
    x = pred.reshape(-1, 1, H, W)
    y = target.reshape(-1, 1, H, W)
    w = _gaussian_window(1.5, 11, pred.dtype, pred.device)

    def blur(img):
        img = F.conv2d(img, w.view(1, 1, 1, -1))
        return F.conv2d(img, w.view(1, 1, -1, 1))

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.reshape(*batch, C, -1).mean(dim=(-1, -2))
