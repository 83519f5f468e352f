"""Training losses: VGG-19 perceptual, L1 on 4x-downsampled images, self-supervised regularisation."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from shared_utils.weights import WeightsNotFoundError, find_weights, load_state_dict_file, load_weights_strict
from torch import nn
from torchvision.models import vgg19

from npbgpp.config import LossConfig

log = logging.getLogger(__name__)

# ReLU outputs relu1_1 ... relu5_1 of torchvision's vgg19.features (13 layers).
VGG_RELU_INDICES = (1, 3, 6, 8, 11, 13, 15, 17, 20, 22, 24, 26, 29)


class VGG19Perceptual(nn.Module):
    """Mean L1 distance between VGG-19 activations (max-pooling replaced by average pooling), frozen weights."""

    def __init__(self, weights_path) -> None:
        super().__init__()
        network = vgg19(weights=None)
        load_weights_strict(network, load_state_dict_file(weights_path))
        layers = [
            nn.AvgPool2d(2) if isinstance(layer, nn.MaxPool2d) else layer
            for layer in network.features[: VGG_RELU_INDICES[-1] + 1]
        ]
        self.layers = nn.Sequential(*layers).eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.layers.eval()
        return self

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (prediction - self.mean) / self.std
        y = (target - self.mean) / self.std
        loss = prediction.new_zeros(())
        for index, layer in enumerate(self.layers):
            x, y = layer(x), layer(y)
            if index in VGG_RELU_INDICES:
                loss = loss + F.l1_loss(x, y)
        return loss


def build_perceptual(cfg: LossConfig) -> VGG19Perceptual | None:
    """The VGG-19 loss, or None with a logged fallback when its weights are absent (unless fallback is 'error')."""
    if cfg.perceptual_weight <= 0:
        return None
    try:
        path = find_weights(cfg.vgg_weights_file, explicit=cfg.vgg_weights_path, env_var="NPBGPP_VGG19_WEIGHTS")
    except WeightsNotFoundError as error:
        if cfg.perceptual_fallback == "error":
            raise
        replacement = "a full-resolution L1 loss" if cfg.perceptual_fallback == "l1" else "nothing"
        log.warning("%s; the perceptual loss is replaced by %s (loss.perceptual_fallback=%s)", error, replacement,
                    cfg.perceptual_fallback)
        return None
    log.info("perceptual loss: VGG-19 weights from %s", path)
    return VGG19Perceptual(path)


def crop_border(images: torch.Tensor, border: int) -> torch.Tensor:
    if border <= 0:
        return images
    return images[..., border:-border, border:-border]


class NPBGPPLoss(nn.Module):
    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.perceptual = build_perceptual(cfg)

    @property
    def perceptual_mode(self) -> str:
        if self.perceptual is not None:
            return "vgg19"
        return "off" if self.cfg.perceptual_weight <= 0 else f"fallback:{self.cfg.perceptual_fallback}"

    def image_terms(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Perceptual (or its fallback) and downsampled L1 terms for (B, 3, H, W) images, border excluded."""
        cfg = self.cfg
        prediction = crop_border(prediction, cfg.border)
        target = crop_border(target, cfg.border)
        terms = {}
        if self.perceptual is not None:
            terms["perceptual"] = cfg.perceptual_weight * self.perceptual(prediction, target)
        elif cfg.perceptual_weight > 0 and cfg.perceptual_fallback == "l1":
            terms["perceptual_l1_fallback"] = cfg.perceptual_weight * F.l1_loss(prediction, target)
        factor = cfg.downsample_factor
        terms["downsampled_l1"] = cfg.downsampled_l1_weight * F.l1_loss(
            F.avg_pool2d(prediction, factor, ceil_mode=True), F.avg_pool2d(target, factor, ceil_mode=True)
        )
        return terms

    def regularization(self, own_render: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        border = self.cfg.border
        return self.cfg.regularization_weight * F.l1_loss(crop_border(own_render, border), crop_border(target, border))
