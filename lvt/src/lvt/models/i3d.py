"""Inflated 3-D ConvNet (I3D, Kinetics-400) for FVD features, laid out like the widely shared PyTorch port
(module names Conv3d_1a_7x7 ... Mixed_5c, logits; 'same' padding as TensorFlow computes it) so that the
``i3d_pretrained_400.pt`` weights used by VideoGPT's FVD load strictly. No weights are downloaded."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    pads = [_same_padding(s, k, st) for s, k, st in zip(x.shape[2:], kernel, stride, strict=True)]
    (ft, bt), (fh, bh), (fw, bw) = pads
    return F.pad(x, (fw, bw, fh, bh, ft, bt))


class Unit3D(nn.Module):
    def __init__(self, in_channels, out_channels, kernel=(1, 1, 1), stride=(1, 1, 1), batch_norm=True, activation=True,
                 bias=False):
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, stride=self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, out: list[int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a = Unit3D(in_channels, out[1])
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, out[3])
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """Input (B, 3, T >= 9, 224, 224) in [-1, 1]; output the 400 class logits averaged over time (FVD features)."""

    WEIGHTS_FILE = "i3d_pretrained_400.pt"

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, [64, 96, 128, 16, 32, 32])
        self.Mixed_3c = InceptionModule(256, [128, 128, 192, 32, 96, 64])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, [192, 96, 208, 16, 48, 64])
        self.Mixed_4c = InceptionModule(512, [160, 112, 224, 24, 64, 64])
        self.Mixed_4d = InceptionModule(512, [128, 128, 256, 24, 64, 64])
        self.Mixed_4e = InceptionModule(512, [112, 144, 288, 32, 64, 64])
        self.Mixed_4f = InceptionModule(528, [256, 160, 320, 32, 128, 128])
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, [256, 160, 320, 32, 128, 128])
        self.Mixed_5c = InceptionModule(832, [384, 192, 384, 48, 128, 128])
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in (
            "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3", "Mixed_3b",
            "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
            "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
        ):
            x = getattr(self, name)(x)
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)
        return self.logits(x).mean(dim=(2, 3, 4))
