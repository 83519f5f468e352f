"""U-Net with a ResNet encoder for 1-channel range-image patches (DEF patch estimator).

Encoder: ResNet (basic or bottleneck blocks) whose stem convolution has stride 1 (patches are only 64 px wide),
ResNet-D "avg-down" shortcuts (average pooling before the 1x1 projection) and LeakyReLU. Decoder: one block per
encoder stage, nearest upsampling x2, concatenation with the skip feature, two conv-BN-LeakyReLU; a 3x3 head conv
gives the per-pixel outputs (244 histogram logits, or 1 value for the regression ablation).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_bn_act(in_ch: int, out_ch: int, slope: float, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.LeakyReLU(slope, inplace=True),
    )


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
    return nn.Sequential(pool, nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int, slope: float):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_act(in_ch, width, slope, stride=stride),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.shortcut = _shortcut(in_ch, width, stride)
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int, slope: float):
        super().__init__()
        out_ch = width * self.expansion
        self.body = nn.Sequential(
            _conv_bn_act(in_ch, width, slope, kernel=1),
            _conv_bn_act(width, width, slope, stride=stride),
            nn.Conv2d(width, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """Returns features at strides 1 (stem), 2, 4, 8, 16."""

    def __init__(self, blocks: list[int], block: str, base_width: int, slope: float, in_channels: int = 1):
        super().__init__()
        block_cls = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.stem = _conv_bn_act(in_channels, base_width, slope, kernel=7, stride=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, channels = [], base_width
        self.channels = [base_width]
        for index, count in enumerate(blocks):
            width = base_width * 2**index
            layers = []
            for block_index in range(count):
                stride = 2 if (index > 0 and block_index == 0) else 1
                layers.append(block_cls(channels, width, stride, slope))
                channels = width * block_cls.expansion
            stages.append(nn.Sequential(*layers))
            self.channels.append(channels)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(x)]
        x = self.pool(features[0])
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class DecoderBlock(nn.Module):
    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, slope: float):
        super().__init__()
        self.convs = nn.Sequential(_conv_bn_act(in_ch + skip_ch, out_ch, slope), _conv_bn_act(out_ch, out_ch, slope))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.convs(torch.cat([x, skip], dim=1))


class ResNetUNet(nn.Module):
    """(B, 1, H, W) -> (B, out_channels, H, W); H and W need not be multiples of 16 (skips set the sizes)."""

    def __init__(self, encoder_blocks: list[int], block: str, base_width: int, decoder_widths: list[int],
                 out_channels: int, negative_slope: float = 0.01, head_kernel: int = 3):
        super().__init__()
        if len(decoder_widths) != len(encoder_blocks):
            raise ValueError("decoder_widths needs one width per encoder stage")
        self.encoder = ResNetEncoder(encoder_blocks, block, base_width, negative_slope)
        skips = self.encoder.channels[::-1]  # deepest first
        blocks, channels = [], skips[0]
        for skip_ch, width in zip(skips[1:], decoder_widths, strict=False):
            blocks.append(DecoderBlock(channels, skip_ch, width, negative_slope))
            channels = width
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(channels, out_channels, head_kernel, padding=head_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)[::-1]
        x = features[0]
        for block, skip in zip(self.decoder, features[1:], strict=False):
            x = block(x, skip)
        return self.head(x)
