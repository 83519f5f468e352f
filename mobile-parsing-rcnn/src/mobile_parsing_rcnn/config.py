"""The one typed configuration tree of Mobile Parsing R-CNN.

Field names follow detectron2 DensePose config keys where one exists (the README maps them), e.g.
``model.box_head.num_conv`` is ``MODEL.ROI_BOX_HEAD.NUM_CONV``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared_utils.config import load_config, packaged_config
from shared_utils.training import TrainerConfig


@dataclass
class BackboneConfig:
    # timm model name (MODEL.TIMMNETS.NAME / MODEL.EFFICIENTNETS.NAME, or resnet50 for MODEL.RESNETS)
    name: str = "spnasnet_100"
    # "expansion": timm features_only taken at the expansion convs (reference BiFPN builder, variant B);
    # "stage": outputs of the EfficientNet stages listed in out_indices, later stages pruned (reference FPN builder)
    feature_location: Literal["expansion", "stage", "bottleneck"] = "expansion"
    out_indices: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    # ImageNet weights: read offline via shared_utils.weights.find_weights; absent -> random init (logged)
    pretrained: bool = True
    weights_file: str | None = None
    # all batch norms become FrozenBatchNorm2d (buffers, not parameters) as detectron2's NORM: "FrozenBN"
    frozen_bn: bool = True
    # stem and the first `freeze_at` stages get requires_grad=False (MODEL.BACKBONE.FREEZE_AT)
    freeze_at: int = 2


@dataclass
class NeckConfig:
    type: Literal["fpn", "bifpn"] = "bifpn"
    out_channels: int = 64  # MODEL.FPN.OUT_CHANNELS


@dataclass
class RPNConfig:
    anchor_sizes: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    pre_nms_topk_train: int = 2000
    pre_nms_topk_test: int = 1000
    post_nms_topk_train: int = 1000
    post_nms_topk_test: int = 1000
    nms_thresh: float = 0.7
    batch_size_per_image: int = 512
    positive_fraction: float = 0.5
    fg_iou_thresh: float = 0.7
    bg_iou_thresh: float = 0.3


@dataclass
class BoxHeadConfig:
    num_conv: int = 2  # MODEL.ROI_BOX_HEAD.NUM_CONV
    conv_dim: int = 64
    num_fc: int = 0
    fc_dim: int = 1024
    pooler_resolution: int = 7
    pooler_sampling_ratio: int = 0  # 0 = adaptive, as ROIAlignV2 with POOLER_SAMPLING_RATIO 0
    batch_size_per_image: int = 32  # MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE
    positive_fraction: float = 0.25
    fg_iou_thresh: float = 0.5
    bg_iou_thresh: float = 0.5
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 100


@dataclass
class DensePoseHeadConfig:
    # "parsing": [ASPP] [non-local] N convs (Parsing R-CNN / Mobile Parsing R-CNN);
    # "v1convx": N plain convs (original DensePose R-CNN head)
    name: Literal["parsing", "v1convx"] = "parsing"
    conv_head_dim: int = 64
    num_stacked_convs: int = 4
    conv_head_kernel: int = 3
    aspp_on: bool = True
    aspp_dim: int = 64
    aspp_dilations: list[int] = field(default_factory=lambda: [6, 12, 18])
    nonlocal_on: bool = False
    # feature levels pooled by the head; the thesis pools P2 only
    in_features: list[str] = field(default_factory=lambda: ["p2"])
    pooler_resolution: int = 32
    pooler_sampling_ratio: int = 0
    deconv_kernel: int = 4
    up_scale: int = 1
    num_coarse_segm_channels: int = 15
    num_patches: int = 24
    fg_iou_thresh: float = 0.7  # MODEL.ROI_DENSEPOSE_HEAD.FG_IOU_THRESHOLD
    max_rois_per_image: int = 32


@dataclass
class ModelConfig:
    variant: str = "B"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    box_head: BoxHeadConfig = field(default_factory=BoxHeadConfig)
    densepose_head: DensePoseHeadConfig = field(default_factory=DensePoseHeadConfig)
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    size_divisibility: int = 32


@dataclass
class LossConfig:
    # detectron2 DensePoseLosses: fine part index "I" uses PART_WEIGHTS, coarse segmentation "S" uses
    # INDEX_WEIGHTS, U and V use POINT_REGRESSION_WEIGHTS (smooth L1 summed over points)
    part_weights: float = 0.3
    index_weights: float = 2.0
    point_regression_weights: float = 0.1


@dataclass
class SyntheticConfig:
    num_train: int = 600
    num_val: int = 60
    height: int = 192
    width: int = 256
    min_people: int = 1
    max_people: int = 3
    min_person_height: float = 0.45  # fraction of the image height
    max_person_height: float = 0.95
    points_per_person: int = 120
    photo_background_prob: float = 0.5
    seed: int = 1234


@dataclass
class DataConfig:
    dataset: Literal["synthetic", "densepose_coco"] = "synthetic"
    # synthetic: cache folder (default data/mprcnn or $THESIS_DATA_ROOT/mprcnn); densepose_coco: the COCO root
    root: str | None = None
    train_json: str = "annotations/densepose_train.json"
    val_json: str = "annotations/densepose_val.json"
    train_images: str = "images/train"
    val_images: str = "images/val"
    # UV_symmetry_transforms.mat of the DensePose authors (real data); synthetic data use their own charts
    uv_symmetry_file: str | None = None
    min_size_train: list[int] = field(default_factory=lambda: [160, 192, 224])
    max_size_train: int = 320
    min_size_test: int = 192
    max_size_test: int = 320
    flip_prob: float = 0.5
    batch_size: int = 4
    num_workers: int = 0


@dataclass
class OptimConfig:
    optimizer: Literal["sgd", "adamw"] = "sgd"
    base_lr: float = 0.002  # SOLVER.BASE_LR for SOLVER.IMS_PER_BATCH
    ims_per_batch_reference: int = 16
    scale_lr_with_batch: bool = True
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_factor: float = 0.1
    warmup_iters: int = 1000
    # fractions of trainer.max_steps where the LR is multiplied by gamma (SOLVER.STEPS / MAX_ITER)
    steps: list[float] = field(default_factory=lambda: [330000 / 390000, 370000 / 390000])
    gamma: float = 0.1


@dataclass
class EvalConfig:
    # geodesic point similarity exp(-g^2 / (2 kappa^2)): "per_part" uses the official evaluator's kappa for the
    # coarse body part of each annotated point (evaluation/metrics.PER_PART_KAPPA); "constant" uses constant_kappa
    # for every point (0.255, DensePose's first GPS definition)
    kappa: Literal["per_part", "constant"] = "per_part"
    constant_kappa: float = 0.255
    score_thresh: float = 0.05
    # DensePose foreground at inference: "argmax" of the coarse segmentation (detectron2) or "probability"
    # (P(background) < 0.5); see models/detector.iuv_from_outputs
    foreground: Literal["argmax", "probability"] = "argmax"
    max_images: int | None = None
    num_pictures: int = 6
    # SMPL geodesics (SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl) for real DensePose-COCO
    smpl_eval_dir: str | None = None


@dataclass
class Config:
    seed: int = 0
    # torch threads (0: one per core). Part of the result: thread count changes the last digits of training;
    # 1-thread runs keep their speed beside other jobs. The CLI and train() apply it.
    num_threads: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(name_or_path: str = "cpu", overrides=()) -> Config:
    """Load a packaged config by stem (``cpu``, ``thesis``, ...) or a YAML path, then apply ``a.b=c`` overrides."""
    return load_config(Config, packaged_config("mobile_parsing_rcnn", name_or_path), overrides)
