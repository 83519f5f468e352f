"""RoI heads: the conv/FC box head and predictor, and the DensePose heads (Parsing/ASPP and DensePose V1 ConvX)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import BoxHeadConfig, DensePoseHeadConfig


def _msra_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ConvFCBoxHead(nn.Module):
    """detectron2 FastRCNNConvFCHead: ``num_conv`` 3x3 convs then ``num_fc`` FC layers (ReLU after each)."""

    def __init__(self, in_channels: int, cfg: BoxHeadConfig):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(cfg.num_conv):
            layers += [nn.Conv2d(channels, cfg.conv_dim, 3, padding=1), nn.ReLU(inplace=True)]
            channels = cfg.conv_dim
        layers.append(nn.Flatten())
        dim = channels * cfg.pooler_resolution**2
        for _ in range(cfg.num_fc):
            layers += [nn.Linear(dim, cfg.fc_dim), nn.ReLU(inplace=True)]
            dim = cfg.fc_dim
        self.layers = nn.Sequential(*layers)
        self.out_dim = dim
        _msra_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class BoxPredictor(nn.Module):
    """Person-vs-background scores and class-specific box deltas for the single foreground class.

    Like detectron2 (``num_classes * 4`` deltas); torchvision's RoIHeads expects deltas for every class including
    background, so zeros are prepended for the background slot, which no loss or output ever reads.
    """

    def __init__(self, in_dim: int, num_classes: int = 1):
        super().__init__()
        self.cls_score = nn.Linear(in_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(in_dim, num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deltas = self.bbox_pred(x)
        return self.cls_score(x), torch.cat([torch.zeros_like(deltas[:, :4]), deltas], dim=1)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling; concatenated and projected by 1x1."""

    def __init__(self, in_channels: int, aspp_dim: int, out_channels: int, dilations: list[int]):
        super().__init__()
        branches = [nn.Sequential(nn.Conv2d(in_channels, aspp_dim, 1), nn.ReLU(inplace=True))]
        for d in dilations:
            branches.append(nn.Sequential(nn.Conv2d(in_channels, aspp_dim, 3, padding=d, dilation=d),
                                          nn.ReLU(inplace=True)))
        self.branches = nn.ModuleList(branches)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, aspp_dim, 1),
                                        nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(aspp_dim * (len(dilations) + 2), out_channels, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pool(x).expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al.) with max-pooled keys/values and a BN on the output."""

    def __init__(self, channels: int, inter_channels: int):
        super().__init__()
        self.theta = nn.Conv2d(channels, inter_channels, 1)
        self.phi = nn.Conv2d(channels, inter_channels, 1)
        self.g = nn.Conv2d(channels, inter_channels, 1)
        self.out = nn.Sequential(nn.Conv2d(inter_channels, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.out[1].weight)  # starts as identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)
        k = F.max_pool2d(self.phi(x), 2).flatten(2)
        v = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)
        attn = torch.softmax(q @ k, dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.out(y)


class ParsingHead(nn.Module):
    """Parsing R-CNN / Mobile Parsing R-CNN DensePose head: [ASPP] [non-local] then stacked 3x3 convs."""

    def __init__(self, in_channels: int, cfg: DensePoseHeadConfig):
        super().__init__()
        dim = cfg.conv_head_dim
        self.aspp = ASPP(in_channels, cfg.aspp_dim, dim, cfg.aspp_dilations) if cfg.aspp_on else None
        channels = dim if cfg.aspp_on else in_channels
        self.non_local = NonLocalBlock(channels, channels // 2) if cfg.nonlocal_on else None
        convs: list[nn.Module] = []
        for _ in range(cfg.num_stacked_convs):
            convs += [nn.Conv2d(channels, dim, cfg.conv_head_kernel, padding=cfg.conv_head_kernel // 2),
                      nn.ReLU(inplace=True)]
            channels = dim
        self.convs = nn.Sequential(*convs)
        self.out_channels = channels
        _msra_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.aspp is not None:
            x = self.aspp(x)
        if self.non_local is not None:
            x = self.non_local(x)
        return self.convs(x)


class DensePoseV1ConvXHead(nn.Module):
    """The original DensePose R-CNN head: ``num_stacked_convs`` 3x3 convs with ReLU."""

    def __init__(self, in_channels: int, cfg: DensePoseHeadConfig):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(cfg.num_stacked_convs):
            layers += [nn.Conv2d(channels, cfg.conv_head_dim, cfg.conv_head_kernel,
                                 padding=cfg.conv_head_kernel // 2), nn.ReLU(inplace=True)]
            channels = cfg.conv_head_dim
        self.convs = nn.Sequential(*layers)
        self.out_channels = channels
        _msra_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class DensePosePredictor(nn.Module):
    """Four transposed convs (k=4, stride 2): coarse segmentation (15), fine parts (25), U (25) and V (25)."""

    def __init__(self, in_channels: int, cfg: DensePoseHeadConfig):
        super().__init__()
        k = cfg.deconv_kernel
        patches = cfg.num_patches + 1

        def deconv(out_channels: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(in_channels, out_channels, k, stride=2, padding=k // 2 - 1)

        self.ann_index_lowres = deconv(cfg.num_coarse_segm_channels)
        self.index_uv_lowres = deconv(patches)
        self.u_lowres = deconv(patches)
        self.v_lowres = deconv(patches)
        self.up_scale = cfg.up_scale
        _msra_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs = (self.ann_index_lowres(x), self.index_uv_lowres(x), self.u_lowres(x), self.v_lowres(x))
        if self.up_scale != 1:
            outputs = tuple(F.interpolate(o, scale_factor=self.up_scale, mode="bilinear", align_corners=False)
                            for o in outputs)
        return outputs
