"""Typed configuration tree of Multi-NeuS (one dataclass tree, loaded with shared_utils.config.load_config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared_utils.config import config_to_dict, load_config, packaged_config
from shared_utils.training import TrainerConfig


@dataclass
class SyntheticDataConfig:
    """Built-in family of head-like SDF shapes (world units are metres, z up, the face looks along -y)."""

    num_train_identities: int = 8
    num_test_identities: int = 1
    views_per_identity: int = 24
    elevations_deg: list[float] = field(default_factory=lambda: [0.0, 25.0])
    image_size: int = 64
    supersampling: int = 2
    fov_deg: float = 30.0
    camera_distance: float = 0.6
    scene_radius: float = 0.16
    gt_mesh_resolution: int = 160
    seed: int = 0


@dataclass
class DataConfig:
    # Folder holding train/ and test/ scene folders; None = $THESIS_DATA_ROOT/multineus, else data/multineus.
    root: str | None = None
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    # Image downscale applied when loading real scene folders (1 = native size).
    downscale: int = 1


@dataclass
class SDFNetworkConfig:
    hidden_dim: int = 64
    num_hidden_layers: int = 6
    skip_layers: list[int] = field(default_factory=lambda: [3])
    multires: int = 6
    feature_dim: int = 64
    softplus_beta: float = 100.0
    geometric_init: bool = True
    init_radius: float = 0.5


@dataclass
class ColorNetworkConfig:
    hidden_dim: int = 64
    num_hidden_layers: int = 3
    use_view_direction: bool = False
    multires_view: int = 4


@dataclass
class MultiSceneConfig:
    # Number of leading linear layers of the SDF / colour MLP that are scene-specific.
    sdf_scene_layers: int = 3
    color_scene_layers: int = 2
    # Rank of the scene-specific layers; 0 = an independent full copy of each scene-specific layer per scene.
    rank: int = 8


@dataclass
class RendererConfig:
    n_samples: int = 32
    n_importance: int = 32
    up_sample_steps: int = 2
    base_inv_s: float = 64.0
    perturb: bool = True
    background: Literal["constant", "nerf++"] = "constant"
    background_color: float = 0.0
    n_outside: int = 16
    init_variance: float = 0.3
    chunk_rays: int = 1024


@dataclass
class LossConfig:
    color_weight: float = 1.0
    eikonal_weight: float = 0.1
    mask_weight: float = 0.1


@dataclass
class MetaLearningConfig:
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    batch_rays: int = 512
    images_per_batch: int = 8
    lr: float = 1e-3
    warmup_steps: int = 100
    lr_floor: float = 0.05
    # Batches per Lightning epoch (also for fitting); last.ckpt is written every trainer.checkpoint_every_n_steps.
    batches_per_epoch: int = 250


@dataclass
class CameraCorrectionConfig:
    enabled: bool = False
    lr: float = 6e-5
    start_fraction: float = 0.0


@dataclass
class FitConfig:
    """Fitting a new identity from a few views (stage 1: scene layers only, stage 2: all layers at a lower lr)."""

    views: list[int] = field(default_factory=lambda: [0])
    aggregation: Literal["weighted", "mean"] = "weighted"
    aggregation_temperature: float = 0.02
    aggregation_rays: int = 1024
    batch_rays: int = 512
    stage1_steps: int = 400
    stage1_lr: float = 4e-3
    stage1_decay_step: int = 300
    stage2_steps: int = 200
    stage2_lr: float = 3e-4
    stage2_warmup: int = 20
    mask_weight: float = 0.1
    scratch_lr: float = 5e-4
    scratch_warmup: int = 20
    cameras: CameraCorrectionConfig = field(default_factory=CameraCorrectionConfig)
    log_every_n_steps: int = 25


@dataclass
class EvalConfig:
    # Thesis Table 7 (H3DS protocol): every held-out head is fitted three times, each time from one view alone:
    # frontal, left and right (views of the subject's left / right side), and the Chamfer distances are averaged.
    frontal_view: int = 0
    left_view: int = 2
    right_view: int = 10
    mesh_resolution: int = 96
    mesh_bound: float = 1.01
    world_unit_mm: float = 1000.0
    icp_max_correspondence_mm: float = 10.0
    icp_iterations: int = 50
    surface_samples: int = 400000


@dataclass
class PicturesConfig:
    novel_views: int = 4
    render_size: int = 96
    turntable_frames: int = 36
    turntable_size: int = 192
    fps: int = 12


@dataclass
class MultiNeuSConfig:
    seed: int = 0
    # torch threads (0: one per core). Part of the result: thread count changes the last digits of training;
    # 1-thread runs keep their speed beside other jobs. The CLI and train() apply it.
    num_threads: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    sdf: SDFNetworkConfig = field(default_factory=SDFNetworkConfig)
    color: ColorNetworkConfig = field(default_factory=ColorNetworkConfig)
    multi_scene: MultiSceneConfig = field(default_factory=MultiSceneConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    meta: MetaLearningConfig = field(default_factory=MetaLearningConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pictures: PicturesConfig = field(default_factory=PicturesConfig)


def load(name_or_path: str | Path = "cpu", overrides=()) -> MultiNeuSConfig:
    """Load a packaged config by stem (``cpu``, ``thesis`` ...) or a YAML path, with ``a.b=value`` overrides."""
    return load_config(MultiNeuSConfig, packaged_config("multi_neus", str(name_or_path)), overrides)


def config_as_dict(cfg: MultiNeuSConfig) -> dict:
    return config_to_dict(cfg)


def config_from_dict(data: dict) -> MultiNeuSConfig:
    return load_config(MultiNeuSConfig, data)
