"""The one typed configuration tree of NPBG++ (loaded with shared_utils.config.load_config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared_utils.config import load_config, packaged_config
from shared_utils.training import TrainerConfig


@dataclass
class SyntheticConfig:
    """Built-in scenes: textured primitives on a floor, rendered by our own ray caster."""

    num_train_scenes: int = 8
    num_holdout_scenes: int = 1
    views_per_scene: int = 24
    holdout_frames: int = 6
    image_size: int = 64
    points_per_scene: int = 8000
    point_noise: float = 0.005
    max_roll_deg: float = 30.0
    fov_deg: float = 45.0
    seed: int = 0


@dataclass
class DataConfig:
    kind: Literal["synthetic", "nerf_synthetic", "dtu", "scannet"] = "synthetic"
    # Root of the data set; None means data/npbg (or $THESIS_DATA_ROOT/npbg) for synthetic data.
    root: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    train_scenes: list[str] = field(default_factory=list)
    holdout_scenes: list[str] = field(default_factory=list)
    # DTU and ScanNet layouts: the frames that are evaluation targets and never input views (the reference's
    # protocols: DTU 7, 12, ..., 47; ScanNet 10, 20, ..., 90). NeRF-Synthetic holds out its test split.
    holdout_frame_ids: list[int] = field(default_factory=list)
    image_scale: float = 1.0
    # Clouds above this size are randomly subsampled (documented handling of huge clouds).
    max_points: int | None = 2_000_000
    # DTU: replace what lies outside the object masks by ``background``.
    apply_masks: bool = True
    # RGB in [0, 1] composited behind NeRF-Synthetic's RGBA images and filled outside DTU masks. The reference
    # evaluates on white (NeRF-Synthetic) and ones (DTU).
    background: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])


@dataclass
class PointsConfig:
    """``make-points``: a cloud from posed images (visual-hull carving from masks/alpha, or depth maps)."""

    resolution: int = 160
    coarse_resolution: int = 48
    # Alpha / mask values above this are foreground.
    foreground_threshold: float = 0.5
    # DTU layout: frames that take no part in carving (NeRF-Synthetic: its test split).
    holdout_frame_ids: list[int] = field(default_factory=list)
    max_points: int | None = 200_000
    seed: int = 0


@dataclass
class ExtractorConfig:
    """U-Net feature extractor of the modeling stage."""

    encoder: Literal["plain", "spnasnet_100"] = "plain"
    plain_channels: list[int] = field(default_factory=lambda: [16, 32, 48, 64])
    decoder_channels: list[int] = field(default_factory=lambda: [64, 48, 32, 16])
    out_channels: int = 8
    pretrained: bool = False
    weights_file: str = "spnasnet_100.pth"
    weights_path: str | None = None
    # What to do when pretrained weights are requested but absent: log and start from random init, or stop.
    missing_weights: Literal["random_init", "error"] = "random_init"


@dataclass
class AggregatorConfig:
    """View-dependent descriptors y(v) = H(v) beta + beta0 (thesis eq. 3-5)."""

    basis_size: int = 6
    hidden: list[int] = field(default_factory=lambda: [16, 16])
    num_frequencies: int = 3
    ridge_alpha: float = 1.0


@dataclass
class RenderConfig:
    num_scales: int = 5
    refiner_channels: list[int] = field(default_factory=lambda: [16, 32, 48, 64, 80])
    # Z-buffer resolution factor for visibility (0.5 for ScanNet in the reference, 1.0 elsewhere).
    visibility_scale: float = 1.0
    align: bool = True
    up_axis: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])
    pad_multiple: int = 32
    # Points are processed in chunks of this size when sampling descriptors (bounded memory for huge clouds).
    point_chunk: int = 1_000_000


@dataclass
class LossConfig:
    perceptual_weight: float = 1.0
    # VGG-19 weights absent: "l1" replaces the perceptual term by a full-resolution L1 (logged), "skip" drops it,
    # "error" stops.
    perceptual_fallback: Literal["l1", "skip", "error"] = "l1"
    vgg_weights_file: str = "vgg19-dcbb9e9d.pth"
    vgg_weights_path: str | None = None
    downsampled_l1_weight: float = 2500.0
    downsample_factor: int = 4
    regularization_weight: float = 1000.0
    # Pixels excluded from every loss at each image side.
    border: int = 20


@dataclass
class TrainConfig:
    lr: float = 1e-4
    batch_size: int = 8
    num_input_views: int = 3
    optimal_angle_deg: float = 15.0
    angle_sigma_deg: float = 10.0
    crop_size: int | None = 256
    color_jitter: float = 0.1
    samples_per_epoch: int = 1000
    val_frames: int = 4
    num_workers: int = 0


@dataclass
class FinetuneConfig:
    steps: int = 500
    lr: float = 1e-3
    descriptor_lr: float = 1e-2
    batch_views: int = 2
    eval_every: int = 100


@dataclass
class BaselineConfig:
    """NPBG-style per-scene optimisation of free point descriptors."""

    steps: int = 2000
    descriptor_lr: float = 1e-1
    refiner_lr: float = 1e-3
    batch_views: int = 2
    eval_every: int = 100
    refiner_init: Literal["pretrained", "random"] = "pretrained"


@dataclass
class EvalConfig:
    crop_border: int = 20
    lpips_net: Literal["vgg", "alex"] = "vgg"
    grid_frames: int = 4
    orbit_frames: int = 36
    orbit_fps: int = 12
    run_finetune: bool = True
    run_baseline: bool = True
    # A real NeRF-Synthetic scene evaluated zero-shot (and with ft / the per-scene baseline at the sizes in
    # real_fit_sizes) when the folder exists; its cloud comes from make-points' visual hull. None: no real scene.
    real_scene: str | None = None
    # Square image sizes of the real-scene evaluation, and the sizes at which ft and the baseline also run.
    real_sizes: list[int] = field(default_factory=lambda: [64, 200])
    real_fit_sizes: list[int] = field(default_factory=lambda: [64])
    # Frames held out of a real scene that has no test split (every k-th), never used for carving or fitting.
    real_holdout_every: int = 8


@dataclass
class NPBGPPConfig:
    seed: int = 0
    # torch threads (0: one per core). Part of the result: thread count changes the last digits of training;
    # 1-thread runs keep their speed beside other jobs. The CLI and train() apply it.
    num_threads: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    points: PointsConfig = field(default_factory=PointsConfig)
    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def resolve_config_path(name_or_path: str) -> Path:
    return packaged_config("npbgpp", name_or_path)


def load(name_or_path: str = "cpu", overrides=()) -> NPBGPPConfig:
    return load_config(NPBGPPConfig, resolve_config_path(name_or_path), overrides)
