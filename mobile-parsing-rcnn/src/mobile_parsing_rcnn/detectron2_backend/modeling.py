"""Mobile Parsing R-CNN's parts in detectron2's registries, each built from the member's own module (``models/``).

Importing this module registers:

- ``BACKBONE_REGISTRY["build_mobile_parsing_backbone"]``: the timm backbone of ``models.backbone.build_backbone``
  (Single-Path NAS, MobileNetV3, EfficientNet, ...) with the neck of ``models.necks`` (one BiFPN layer or an FPN),
  giving p2-p6 at strides 4-64;
- ``ROI_BOX_HEAD_REGISTRY["MobileParsingConvBoxHead"]``: ``models.heads.ConvFCBoxHead`` (2 convs, no FC);
- ``ROI_DENSEPOSE_HEAD_REGISTRY["MobileParsingDensePoseHead"]``: ``models.heads.ParsingHead`` (ASPP + 4 convs);
- ``ROI_HEADS_REGISTRY["MobileParsingROIHeads"]``: DensePose's RoI heads with the DensePose branch pooling its own
  levels (``MODEL.ROI_DENSEPOSE_HEAD.IN_FEATURES``, P2 only in the thesis) while the box branch pools P2-P5.

The RPN, box predictor, DensePose predictor and losses are detectron2's and DensePose's own.
"""

from __future__ import annotations

import torch
from densepose.modeling.roi_heads import DensePoseROIHeads
from densepose.modeling.roi_heads.registry import ROI_DENSEPOSE_HEAD_REGISTRY
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, ROI_BOX_HEAD_REGISTRY, ROI_HEADS_REGISTRY, Backbone

from ..config import BackboneConfig, BoxHeadConfig, DensePoseHeadConfig, NeckConfig
from ..models.backbone import build_backbone
from ..models.heads import ConvFCBoxHead, ParsingHead
from ..models.necks import LEVEL_NAMES, BackboneWithNeck

LEVEL_STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}


def add_mobile_parsing_config(cfg: CfgNode) -> None:
    """The keys detectron2 and DensePose lack: the timm backbone, the neck type, the DensePose head's ASPP and levels.

    The neck width is ``MODEL.FPN.OUT_CHANNELS``, frozen stages ``MODEL.BACKBONE.FREEZE_AT``; the box and DensePose
    heads read detectron2's ``MODEL.ROI_BOX_HEAD.*`` and DensePose's ``MODEL.ROI_DENSEPOSE_HEAD.*`` keys.
    """
    cfg.MODEL.TIMMNETS = CfgNode()
    cfg.MODEL.TIMMNETS.NAME = "spnasnet_100"
    # "expansion" (variant B, BiFPN builder), "stage" (variant A, FPN builder) or "bottleneck"
    cfg.MODEL.TIMMNETS.FEATURE_LOCATION = "expansion"
    cfg.MODEL.TIMMNETS.OUT_INDICES = [1, 2, 3, 4]
    # "FrozenBN": batch norms become buffers (detectron2 FrozenBN); "BN": they train
    cfg.MODEL.TIMMNETS.NORM = "FrozenBN"
    # ImageNet weights read offline (shared_utils.weights.find_weights); absent -> random init, logged
    cfg.MODEL.TIMMNETS.PRETRAINED = True
    cfg.MODEL.TIMMNETS.WEIGHTS_FILE = ""
    cfg.MODEL.NECK = CfgNode()
    cfg.MODEL.NECK.TYPE = "bifpn"
    cfg.MODEL.ROI_DENSEPOSE_HEAD.IN_FEATURES = ["p2"]
    cfg.MODEL.ROI_DENSEPOSE_HEAD.ASPP_ON = True
    cfg.MODEL.ROI_DENSEPOSE_HEAD.ASPP_DIM = 64
    cfg.MODEL.ROI_DENSEPOSE_HEAD.ASPP_DILATIONS = [6, 12, 18]
    cfg.MODEL.ROI_DENSEPOSE_HEAD.NONLOCAL_ON = False


def backbone_config(cfg: CfgNode) -> BackboneConfig:
    timm_cfg = cfg.MODEL.TIMMNETS
    return BackboneConfig(name=timm_cfg.NAME, feature_location=timm_cfg.FEATURE_LOCATION,
                          out_indices=list(timm_cfg.OUT_INDICES), pretrained=timm_cfg.PRETRAINED,
                          weights_file=timm_cfg.WEIGHTS_FILE or None, frozen_bn=timm_cfg.NORM == "FrozenBN",
                          freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


def box_head_config(cfg: CfgNode, pooler_resolution: int) -> BoxHeadConfig:
    head = cfg.MODEL.ROI_BOX_HEAD
    return BoxHeadConfig(num_conv=head.NUM_CONV, conv_dim=head.CONV_DIM, num_fc=head.NUM_FC, fc_dim=head.FC_DIM,
                         pooler_resolution=pooler_resolution)


def densepose_head_config(cfg: CfgNode) -> DensePoseHeadConfig:
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    return DensePoseHeadConfig(name="parsing", conv_head_dim=head.CONV_HEAD_DIM,
                               num_stacked_convs=head.NUM_STACKED_CONVS, conv_head_kernel=head.CONV_HEAD_KERNEL,
                               aspp_on=head.ASPP_ON, aspp_dim=head.ASPP_DIM, aspp_dilations=list(head.ASPP_DILATIONS),
                               nonlocal_on=head.NONLOCAL_ON)


class MobileParsingBackbone(Backbone):
    """``models.necks.BackboneWithNeck`` as a detectron2 Backbone: normalised images -> {p2, ..., p6}."""

    def __init__(self, backbone_with_neck: BackboneWithNeck, size_divisibility: int = 32):
        super().__init__()
        self.backbone_with_neck = backbone_with_neck
        self._size_divisibility = size_divisibility

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self.backbone_with_neck(x))

    def output_shape(self) -> dict[str, ShapeSpec]:
        channels = self.backbone_with_neck.out_channels
        return {name: ShapeSpec(channels=channels, stride=LEVEL_STRIDES[name]) for name in [*LEVEL_NAMES, "p6"]}


@BACKBONE_REGISTRY.register()
def build_mobile_parsing_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> MobileParsingBackbone:
    if input_shape.channels != 3:
        raise ValueError(f"the timm backbones take 3-channel images, not {input_shape.channels}")
    neck = NeckConfig(type=cfg.MODEL.NECK.TYPE, out_channels=cfg.MODEL.FPN.OUT_CHANNELS)
    return MobileParsingBackbone(BackboneWithNeck(build_backbone(backbone_config(cfg)), neck))


@ROI_BOX_HEAD_REGISTRY.register()
class MobileParsingConvBoxHead(ConvFCBoxHead):
    """``ConvFCBoxHead`` with detectron2's box-head interface (``cfg, input_shape`` and ``output_shape``)."""

    def __init__(self, cfg: CfgNode, input_shape: ShapeSpec):
        if input_shape.height != input_shape.width:
            raise ValueError(f"box RoIs must be square, got {input_shape.height} x {input_shape.width}")
        super().__init__(input_shape.channels, box_head_config(cfg, input_shape.height))

    @property
    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(channels=self.out_dim)


@ROI_DENSEPOSE_HEAD_REGISTRY.register()
class MobileParsingDensePoseHead(ParsingHead):
    """``ParsingHead`` (ASPP, optional non-local block, stacked convs) with DensePose's head interface."""

    def __init__(self, cfg: CfgNode, input_channels: int):
        super().__init__(input_channels, densepose_head_config(cfg))
        self.n_out_channels = self.out_channels


@ROI_HEADS_REGISTRY.register()
class MobileParsingROIHeads(DensePoseROIHeads):
    """DensePose RoI heads whose DensePose branch pools ``MODEL.ROI_DENSEPOSE_HEAD.IN_FEATURES``.

    detectron2's box branch reads ``box_in_features``; DensePose's branch reads ``in_features``, which is set here
    before DensePose builds its pooler.
    """

    def _init_densepose_head(self, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> None:
        self.in_features = list(cfg.MODEL.ROI_DENSEPOSE_HEAD.IN_FEATURES)
        super()._init_densepose_head(cfg, input_shape)
