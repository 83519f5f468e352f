"""timm feature extractors with detectron2 semantics: frozen batch norms, frozen early stages, offline weights."""

from __future__ import annotations

import logging

import timm
import torch
from shared_utils.weights import WeightsNotFoundError, find_weights, load_state_dict_file, load_weights_strict
from timm.layers import freeze_batch_norm_2d
from torch import nn

from ..config import BackboneConfig

log = logging.getLogger(__name__)

WEIGHTS_ENV_VAR = "MPRCNN_BACKBONE_WEIGHTS"


def freeze_batch_norm(module: nn.Module) -> nn.Module:
    """Batch norms -> frozen ones holding the same statistics as buffers (not parameters), as detectron2's FrozenBN.

    timm's converter keeps the activation fused into its BatchNormAct2d layers.
    """
    return freeze_batch_norm_2d(module)


class StageBackbone(nn.Module):
    """Outputs of selected EfficientNet-family stages (detectron2 ``s1, s2, s3, s5``); later stages are pruned."""

    def __init__(self, model: nn.Module, stage_indices: list[int]):
        super().__init__()
        self.conv_stem, self.bn1 = model.conv_stem, model.bn1
        self.act1 = getattr(model, "act1", nn.Identity())
        self.blocks = nn.Sequential(*list(model.blocks.children())[: max(stage_indices) + 1])
        self.stage_indices = list(stage_indices)
        self.out_channels = [self._stage_channels(self.blocks[i]) for i in self.stage_indices]

    @staticmethod
    def _stage_channels(stage: nn.Module) -> int:
        convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act1(self.bn1(self.conv_stem(x)))
        out = []
        for index, stage in enumerate(self.blocks):
            x = stage(x)
            if index in self.stage_indices:
                out.append(x)
        return out


class TimmFeatures(nn.Module):
    """timm ``features_only`` model (``feature_location`` expansion or bottleneck), returning a list of maps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.body = model
        self.out_channels = list(model.feature_info.channels())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))


def _load_imagenet_weights(module: nn.Module, cfg: BackboneConfig) -> None:
    filename = f"{cfg.name}.pth"
    try:
        path = find_weights(filename, explicit=cfg.weights_file, env_var=WEIGHTS_ENV_VAR)
    except WeightsNotFoundError as exc:
        log.warning("backbone %s: %s; training starts from random initialisation", cfg.name, exc)
        return
    state = load_state_dict_file(path)
    wanted = module.state_dict()
    # classification-only tensors (conv_head, classifier) are not part of the feature extractor
    load_weights_strict(module, {k: v for k, v in state.items() if k in wanted})
    log.info("backbone %s: ImageNet weights loaded from %s", cfg.name, path)


def _freeze_early_stages(backbone: nn.Module, freeze_at: int) -> None:
    """Stem plus the first ``freeze_at - 1`` (ResNet, detectron2 FREEZE_AT) or ``freeze_at`` (EfficientNet) stages."""
    if freeze_at <= 0:
        return
    body = getattr(backbone, "body", backbone)
    if hasattr(body, "layer1"):  # ResNet
        frozen = [body.conv1, body.bn1] + [getattr(body, f"layer{i}") for i in range(1, freeze_at)]
    else:
        frozen = [body.conv_stem, body.bn1] + list(body.blocks.children())[:freeze_at]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    """A module mapping images (B, 3, H, W) to a list of 4 feature maps at strides 4, 8, 16, 32 (``.out_channels``)."""
    if cfg.feature_location == "stage":
        backbone = StageBackbone(timm.create_model(cfg.name, pretrained=False), cfg.out_indices)
    else:
        kwargs = {} if cfg.feature_location == "bottleneck" else {"feature_location": cfg.feature_location}
        model = timm.create_model(cfg.name, pretrained=False, features_only=True, out_indices=tuple(cfg.out_indices),
                                  **kwargs)
        backbone = TimmFeatures(model)
    if cfg.pretrained:
        _load_imagenet_weights(backbone.body if isinstance(backbone, TimmFeatures) else backbone, cfg)
    else:
        log.info("backbone %s: random initialisation (model.backbone.pretrained=false)", cfg.name)
    if cfg.frozen_bn:
        freeze_batch_norm(backbone)
    _freeze_early_stages(backbone, cfg.freeze_at)
    return backbone
