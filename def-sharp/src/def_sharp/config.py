"""Typed configuration tree of DEF (one dataclass per concern), loaded with shared_utils.config.load_config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared_utils.config import load_config, packaged_config
from shared_utils.training import TrainerConfig


@dataclass
class ShapesConfig:
    """Procedural CAD-like shapes (DEF-Sim stand-in); splits use disjoint shape instances."""

    n_train: int = 96
    n_val: int = 12
    n_test: int = 24
    smooth_fraction: float = 0.15  # share of smooth negatives (no sharp curve)
    sharp_angle_deg: float = 20.0  # dihedral angle above which a mesh edge is a sharp feature
    sections: int = 64  # tessellation of round primitives (5.6 degrees between facets)
    extent: float = 10.0  # DEF-Sim: largest extent -> 10 ...
    curve_length_quantile: float = 0.25  # ... then this quantile of curve lengths -> 1
    seed: int = 0


@dataclass
class ScanConfig:
    """Orthographic patch scanning (pose product as in DEF-Sim, randomly subsampled per shape)."""

    patch_size: int = 64
    pixel_size: float = 0.02  # 0.02 high / 0.05 medium / 0.125 low resolution
    n_directions: int = 36
    n_shifts: int = 25
    n_rotations: int = 5
    patches_per_shape: int = 32
    min_foreground_fraction: float = 0.25
    noise_sigmas: list[float] = field(default_factory=lambda: [0.0])  # depth noise drawn per patch
    truncation: float = 1.0  # eps of d(p) = min(||q(p) - p||, eps)


@dataclass
class DataConfig:
    root: str | None = None  # None: $THESIS_DATA_ROOT/def when set, else data/def (shared_utils.run.data_root)
    name: str = "defsim-cpu"
    shard_size: int = 512
    generation_workers: int = 2
    loader_workers: int = 0
    input_scale: float | None = None  # depth normaliser; None -> 95 % quantile of training patch depth ranges
    background_value: float = -0.5  # network input on pixels without a hit
    augment: bool = True  # random flips / 90-degree rotations of training patches
    shapes: ShapesConfig = field(default_factory=ShapesConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)


@dataclass
class ModelConfig:
    """U-Net with a ResNet encoder (first conv stride 1, 1-channel input, ResNet-D average-pool shortcuts)."""

    encoder_blocks: list[int] = field(default_factory=lambda: [2, 2, 2, 2])  # resnet18; [3, 8, 36, 3] = resnet152
    block: Literal["basic", "bottleneck"] = "basic"
    base_width: int = 64
    decoder_widths: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    negative_slope: float = 0.01  # LeakyReLU
    head_kernel: int = 3  # reference: 3x3 head conv; 1 makes the 244-logit head 9x cheaper on CPU
    loss: Literal["histogram", "regression"] = "histogram"
    n_bins: int = 240
    margin_bins: int = 2
    sigma_bins: float = 1.0  # Gaussian target width in bin widths


@dataclass
class OptimConfig:
    lr: float = 1e-3
    lr_decay: float = 0.9  # exponential decay per epoch
    batch_size: int = 32
    weight_decay: float = 0.0


@dataclass
class BaselineConfig:
    """Covariance (PCA) sharpness: surface variation l0 / (l0 + l1 + l2) over 3D ball neighbourhoods."""

    radii: list[float] = field(default_factory=lambda: [0.06, 0.1])
    max_neighbours: int = 48
    calibration_patches: int = 200  # training patches used to fit the monotone variation -> distance map
    # normal-discontinuity baseline: open3d normals from this many nearest points, compared with the normals within
    # this radius. 8 and 0.02 rank the exact scans of training families better (AP 0.82 vs 0.21 on a notched block),
    # but through the distance map fitted on grid patches their scores on merged whole-model clouds saturate (AP
    # 0.09, FPR 37 %), so the wide setting stays until the map is fitted on whole-model clouds.
    normal_neighbours: int = 16
    normal_radius: float = 0.06


@dataclass
class EvalConfig:
    threshold: float = 0.02  # r: sharp if distance < r (thesis Table 2)
    picture_patches: int = 8
    whole_model_shapes: int = 1  # instances of every held-out family scanned from all views (0: none)
    # meshes made elsewhere, relative to the workspace root, evaluated as whole models when present
    extra_meshes: list[str] = field(default_factory=lambda: ["../shared/data/meshes/fandisk.off"])
    whole_model_points: int = 200_000  # evaluated points per shape (a fixed random subset of the scanned ones)
    whole_model_picture_views: int = 4  # views shown in each shape's picture


@dataclass
class PredictConfig:
    """Whole-model prediction: scan from n views, predict per view (tiled), fuse across views (fusion.py)."""

    n_views: int = 18
    image_size: int | None = None  # None -> fit the shape at the training pixel size
    tile_stride: int = 32
    batch_size: int = 16
    # default chosen on held-out whole models (benchmarks/fusion_rules.py, README): lowest FPR at recall 0.8, best AP
    fusion: Literal["min", "robust_min", "incidence_weighted", "frontal_min"] = "frontal_min"
    robust_quantiles: list[float] = field(default_factory=lambda: [0.2, 0.8])  # central 60 % kept, then min
    frontal_fraction: float = 0.7  # frontal_min: views with incidence cosine >= this share of the best view's
    depth_tolerance_factor: float = 0.5  # a source pixel sees a point when its depth, extrapolated, is this close
    reach_factor: float = 0.5  # nearest-pixel fallback only within this many pixel sizes of the point in 3D
    chunk_size: int = 200_000
    noise_sigma: float = 0.0
    cloud_extent: float = 2.3  # a point cloud without --scale: largest extent -> the training shapes' median


@dataclass
class CurvesConfig:
    """Parametric curve extraction from the fused distance field."""

    threshold_factor: float = 1.5  # keep points with d < factor * r
    subsample_radius: float = 0.03
    centreline_radius: float = 0.06  # neighbourhood that pulls samples onto the band's centre line
    corner_radii: list[float] = field(default_factory=lambda: [0.08, 0.12, 0.16])
    corner_ratio: float = 0.25  # second/first PCA eigenvalue ratio above which a neighbourhood votes "corner"
    corner_vote: float = 0.5
    connect_radius: float = 0.08
    min_length: float = 0.15
    max_fit_error: float = 0.05
    samples_per_curve: int = 100


@dataclass
class DEFConfig:
    seed: int = 0
    # torch threads (0: one per core). Part of the result: thread count changes the last digits of training;
    # 1-thread runs keep their speed beside other jobs. The CLI and train() apply it.
    num_threads: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    curves: CurvesConfig = field(default_factory=CurvesConfig)


def load(name_or_path: str | Path = "cpu", overrides: tuple[str, ...] | list[str] = ()) -> DEFConfig:
    """A shipped config by name (cpu, thesis, regression, ...) or a YAML path, with key=value overrides."""
    return load_config(DEFConfig, packaged_config("def_sharp", str(name_or_path)), overrides=tuple(overrides))
