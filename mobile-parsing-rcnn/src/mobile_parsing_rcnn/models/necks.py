"""Necks turning backbone maps C2-C5 into pyramid levels P2-P6: FPN (torchvision) and a one-layer BiFPN."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ..config import NeckConfig

LEVEL_NAMES = ["p2", "p3", "p4", "p5"]


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise 3x3 (optionally stride 2) + pointwise 1x1 convolution, batch norm, ReLU."""

    def __init__(self, channels: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels, momentum=0.03),
            nn.ReLU(inplace=True),
        )


class FastNormalizedFusion(nn.Module):
    """EfficientDet fast normalised fusion: ``sum_i w_i x_i / (eps + sum_j w_j)`` with ``w = ReLU(weight)``."""

    def __init__(self, num_inputs: int, eps: float = 1e-4):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_inputs))
        self.eps = eps

    def normalized_weights(self) -> torch.Tensor:
        w = F.relu(self.weight)
        return w / (w.sum() + self.eps)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.weight.numel():
            raise ValueError(f"fusion node expects {self.weight.numel()} inputs, got {len(inputs)}")
        w = self.normalized_weights()
        out = inputs[0] * w[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i] * w[i]
        return out


class BiFPN(nn.Module):
    """One bidirectional layer over P2-P5: a top-down path then a bottom-up path with cross-scale skip inputs.

    P6 is a stride-2 max-pool of P5 (as detectron2's LastLevelMaxPool).
    """

    def __init__(self, in_channels: list[int], out_channels: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.td_conv = nn.ModuleDict({k: SeparableConvBNReLU(out_channels) for k in ("p4", "p3")})
        self.td_fuse = nn.ModuleDict({k: FastNormalizedFusion(2) for k in ("p4", "p3")})
        self.down = nn.ModuleDict({k: SeparableConvBNReLU(out_channels, stride=2) for k in ("p2", "p3", "p4")})
        self.out_conv = nn.ModuleDict({k: SeparableConvBNReLU(out_channels) for k in LEVEL_NAMES})
        self.out_fuse = nn.ModuleDict({"p2": FastNormalizedFusion(2), "p3": FastNormalizedFusion(3),
                                       "p4": FastNormalizedFusion(3), "p5": FastNormalizedFusion(2)})
        self.out_channels = out_channels

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="nearest")

    def forward(self, features: list[torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        p2, p3, p4, p5 = (conv(f) for conv, f in zip(self.lateral, features, strict=False))
        p4_td = self.td_conv["p4"](self.td_fuse["p4"]([p4, self._up(p5, p4)]))
        p3_td = self.td_conv["p3"](self.td_fuse["p3"]([p3, self._up(p4_td, p3)]))
        p2_out = self.out_conv["p2"](self.out_fuse["p2"]([p2, self._up(p3_td, p2)]))
        p3_out = self.out_conv["p3"](self.out_fuse["p3"]([p3, p3_td, self.down["p2"](p2_out)]))
        p4_out = self.out_conv["p4"](self.out_fuse["p4"]([p4, p4_td, self.down["p3"](p3_out)]))
        p5_out = self.out_conv["p5"](self.out_fuse["p5"]([p5, self.down["p4"](p4_out)]))
        return OrderedDict(p2=p2_out, p3=p3_out, p4=p4_out, p5=p5_out, p6=F.max_pool2d(p5_out, 1, 2))


class FPN(nn.Module):
    """torchvision's FeaturePyramidNetwork (1x1 laterals, 3x3 outputs, nearest top-down) with P6 by max-pooling."""

    def __init__(self, in_channels: list[int], out_channels: int):
        super().__init__()
        self.fpn = FeaturePyramidNetwork(in_channels, out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, features: list[torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        out = self.fpn(OrderedDict(zip(LEVEL_NAMES, features, strict=False)))
        return OrderedDict(zip([*LEVEL_NAMES, "p6"], out.values(), strict=False))


class BackboneWithNeck(nn.Module):
    """Backbone + neck: images (B, 3, H, W) -> OrderedDict p2..p6, each with ``out_channels`` channels."""

    def __init__(self, backbone: nn.Module, cfg: NeckConfig):
        super().__init__()
        self.body = backbone
        neck_cls = BiFPN if cfg.type == "bifpn" else FPN
        self.neck = neck_cls(backbone.out_channels, cfg.out_channels)
        self.out_channels = cfg.out_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.neck(self.body(images))
