"""U-Net feature extractor of the modeling stage (thesis: U-Net [72]; reference: SPNASNet-100 encoder)."""

from __future__ import annotations

import logging

import timm
import torch
import torch.nn.functional as F
from shared_utils.weights import WeightsNotFoundError, find_weights, load_state_dict_file, load_weights_strict
from torch import nn

from npbgpp.config import ExtractorConfig

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Keys of timm's classifier head that a features-only encoder does not have.
CLASSIFIER_PREFIXES = ("conv_head.", "bn2.", "classifier.")


class PlainEncoder(nn.Module):
    """Small strided-convolution encoder (CPU configuration); features at reductions 2, 4, 8, ..."""

    def __init__(self, channels=(16, 32, 48, 64)) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        previous = 3
        for width in channels:
            self.stages.append(nn.Sequential(
                nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
                nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            ))
            previous = width
        self.channels = list(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_encoder(cfg: ExtractorConfig) -> tuple[nn.Module, list[int], bool]:
    """(encoder, channels per level, pretrained weights loaded?)."""
    if cfg.encoder == "plain":
        log.info("feature extractor: plain encoder, random init (this encoder has no pretrained weights)")
        return PlainEncoder(cfg.plain_channels), list(cfg.plain_channels), False
    encoder = timm.create_model(cfg.encoder, features_only=True, pretrained=False)
    channels = list(encoder.feature_info.channels())
    if not cfg.pretrained:
        log.info("feature extractor: %s encoder, random init (extractor.pretrained=false)", cfg.encoder)
        return encoder, channels, False
    try:
        path = find_weights(cfg.weights_file, explicit=cfg.weights_path, env_var="NPBGPP_EXTRACTOR_WEIGHTS")
    except WeightsNotFoundError as error:
        if cfg.missing_weights == "error":
            raise
        log.warning("feature extractor: %s; starting the %s encoder from random init "
                    "(extractor.missing_weights=random_init)", error, cfg.encoder)
        return encoder, channels, False
    state = load_state_dict_file(path)
    state = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
    load_weights_strict(encoder, state)
    log.info("feature extractor: %s encoder initialised from %s", cfg.encoder, path)
    return encoder, channels, True


class UNetFeatureExtractor(nn.Module):
    """Encoder features, one conv + LeakyReLU per decoder level with bilinear upsampling, RGB skip at full size."""

    def __init__(self, cfg: ExtractorConfig) -> None:
        super().__init__()
        self.encoder, encoder_channels, self.pretrained = build_encoder(cfg)
        if len(cfg.decoder_channels) != len(encoder_channels):
            raise ValueError(
                f"extractor.decoder_channels needs {len(encoder_channels)} entries (one per encoder level), "
                f"got {len(cfg.decoder_channels)}"
            )
        self.decoder = nn.ModuleList()
        previous = encoder_channels[-1]
        skip_channels = list(reversed(encoder_channels[:-1])) + [3]
        for width, skip in zip(cfg.decoder_channels, skip_channels, strict=True):
            self.decoder.append(nn.Sequential(nn.Conv2d(previous + skip, width, 3, padding=1), nn.LeakyReLU(0.2)))
            previous = width
        self.head = nn.Conv2d(previous, cfg.out_channels, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.divisor = 2 ** len(encoder_channels)
        self.out_channels = cfg.out_channels

    def train(self, mode: bool = True):
        super().train(mode)
        if self.pretrained:
            # Pretrained batch-norm statistics stay fixed (the reference keeps its encoder in eval mode).
            self.encoder.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, out_channels, H, W); padded internally to a multiple of 2^levels."""
        height, width = images.shape[-2:]
        pad_h = (-height) % self.divisor
        pad_w = (-width) % self.divisor
        padded = F.pad(images, (0, pad_w, 0, pad_h))
        features = self.encoder((padded - self.mean) / self.std)
        skips = list(reversed(features[:-1])) + [padded]
        x = features[-1]
        for block, skip in zip(self.decoder, skips, strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)[..., :height, :width]
