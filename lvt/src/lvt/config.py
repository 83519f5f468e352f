"""The one typed configuration tree of the Latent Video Transformer (loaded with shared_utils.config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared_utils.config import load_config, packaged_config
from shared_utils.training import TrainerConfig


@dataclass
class SyntheticConfig:
    """Bouncing coloured sprites under deterministic physics (exact ground truth, built in)."""

    num_train: int = 512
    num_test: int = 64
    num_sprites: int = 2
    sprite_size: tuple[int, int] = (12, 20)
    speed: tuple[float, float] = (2.0, 4.0)
    train_seed: int = 0
    test_seed: int = 1


@dataclass
class DataConfig:
    source: Literal["synthetic", "bair", "video_folder"] = "synthetic"
    # synthetic: where the generated videos are cached; bair: folder holding {split}/{record}/{k}/{0..29}.png;
    # video_folder: {split}/**/*.mp4 etc. None -> $THESIS_DATA_ROOT/lvt (synthetic) or .../lvt/<source>, else data/lvt
    root: str | None = None
    num_frames: int = 16
    resolution: int = 64
    train_split: str = "train"
    test_split: str = "test"
    max_videos: int | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class VQVAEConfig:
    hidden_channels: int = 128
    channels: int = 256
    res_channels: int = 128
    num_res_blocks: int = 2
    num_downsamples: int = 2
    num_parts: int = 4  # n_c: the encoder output is split into n_c parts along channels, each quantised
    codebook_size: int = 512  # K
    shared_codebook: bool = False  # reference: one codebook per part; thesis Fig. 1 reads as one shared codebook
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    commitment_weight: float = 1.0
    # a code whose EMA count (uses per step) falls below this is restarted at a random encoder output; the
    # initial pseudo-count is 1, so 1.0 also replaces the never-used initial codes after the first step; 0 = off
    dead_code_threshold: float = 1.0
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.9)
    batch_size: int = 32
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_steps=500_000))


@dataclass
class TransformerConfig:
    subscale: tuple[int, int, int] = (16, 1, 1)  # (s_t, s_h, s_w) of eq. 2
    embedding_dim: int = 128
    width: int = 512
    attention_dim: int = 128
    ffn_dim: int = 2048
    num_heads: int = 8
    encoder_layers: int = 8
    decoder_layers: int = 8
    encoder_kernel: tuple[int, int, int] = (1, 3, 3)
    decoder_kernel: tuple[int, int, int] = (3, 3, 3)
    # block-local attention blocks in slice coordinates, cycled over the layers
    encoder_blocks: list[tuple[int, int, int]] = field(default_factory=lambda: [(1, 16, 16)])
    decoder_blocks: list[tuple[int, int, int]] = field(default_factory=lambda: [(1, 16, 16)])
    dropout: float = 0.0
    num_priming_frames: int = 1  # excluded from the loss and from bits/dim (thesis: one priming frame)
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    lr: float = 2e-5
    rmsprop_alpha: float = 0.95
    momentum: float = 0.9
    # "constant" as in the thesis; "cosine": linear warm-up over warmup_steps, then cosine decay to 0 at max_steps
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    batch_size: int = 64
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_steps=600_000))
    # the same transformer trained on single latent frames (no earlier frames visible): the no-temporal model
    train_no_temporal: bool = True
    no_temporal_max_steps: int | None = None  # defaults to trainer.max_steps


@dataclass
class SampleConfig:
    num_videos: int = 8
    num_priming_frames: int = 5  # thesis Fig. 3 / FVD: five real frames, the rest generated
    temperature: float = 1.0
    seed: int = 0
    cached: bool = True
    fps: int = 4


@dataclass
class EvalConfig:
    i3d_weights: str | None = None  # path to i3d_pretrained_400.pt; else $LVT_I3D_WEIGHTS or the torch cache
    fvd_num_videos: int = 256
    fvd_trials: int = 1
    fvd_batch_size: int = 8
    max_test_videos: int | None = None


@dataclass
class LVTConfig:
    seed: int = 0
    # torch threads (0: one per core). Part of the result: thread count changes the last digits of training;
    # 1-thread runs keep their speed beside other jobs. The CLI and train() apply it.
    num_threads: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def load(name_or_path: str | Path = "cpu", overrides: tuple[str, ...] | list[str] = ()) -> LVTConfig:
    """A shipped config by stem (``tiny``, ``cpu``, ``thesis``...) or a YAML path, with ``a.b=value`` overrides."""
    return load_config(LVTConfig, packaged_config("lvt", str(name_or_path)), overrides=list(overrides))
