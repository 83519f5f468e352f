"""The training stages: VQ-VAE on frames, latent extraction, transformer (with and without temporal context).

Run folder (``RunDir``; each stage is a run folder of its own for its checkpoints and logs):
    config.yaml
    vqvae/{checkpoints,logs}/, vqvae/weights.pt
    latents/{train,test}.pt                       codes + codebook hash
    transformer/{checkpoints,logs}/, transformer/weights.pt
    transformer_no_temporal/...                   the per-frame model
Every stage is resumable: a finished stage (``weights.pt`` present) is reused, an interrupted one continues from its
``checkpoints/last.ckpt`` with the same batches and random draws an uninterrupted run would have had.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save, load_checkpoint
from shared_utils.run import RunDir
from shared_utils.runtime import seed_everything, select_device, use_threads
from shared_utils.training import TrainerConfig, build_trainer, time_limit_reached
from torch.utils.data import DataLoader, Dataset, Subset

from lvt.config import LVTConfig, TransformerConfig
from lvt.data.order import ResumableShuffle
from lvt.data.videos import FrameDataset, build_video_dataset
from lvt.latents import cached_latents, load_latents
from lvt.lightning import TransformerModule, VQVAEModule, model_kwargs
from lvt.models.transformer import LatentVideoTransformer
from lvt.models.vqvae import VQVAE

VQVAE_STAGE = "vqvae"
TRANSFORMER_STAGES = {True: "transformer", False: "transformer_no_temporal"}
WEIGHTS = "weights.pt"


@dataclass
class StageRecord:
    """What a finished stage did, stored beside its weights: for the provenance block of metrics.json."""

    steps: int
    time_limit_reached: bool


class TensorRows(Dataset):
    """Rows of one tensor as samples."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor[index]


def stage_dir(run: RunDir, stage: str) -> RunDir:
    return RunDir(run / stage)


def latents_path(run: RunDir, split: str) -> Path:
    return run / "latents" / f"{split}.pt"


def _trainer_config(trainer_cfg: TrainerConfig, cfg: LVTConfig) -> TrainerConfig:
    """The stage's trainer settings; ``device: cpu`` pins the accelerator."""
    if cfg.device == "cpu" and trainer_cfg.accelerator == "auto":
        return replace(trainer_cfg, accelerator="cpu")
    return trainer_cfg


def _fit(module, stage: RunDir, trainer_cfg: TrainerConfig, train_data: Dataset, val_data: Dataset,
         batch_size: int, seed: int):
    """Fit ``module``, resuming from the stage's ``last.ckpt`` (checked first: a damaged one is named)."""
    resume = stage.resume_checkpoint()
    if resume is not None:
        load_checkpoint(resume, weights_only=False)
    trainer = build_trainer(trainer_cfg, stage.path)
    order = ResumableShuffle(len(train_data), batch_size, seed, lambda: trainer.global_step)
    trainer.fit(
        module,
        DataLoader(train_data, batch_size=batch_size, sampler=order, drop_last=True),
        DataLoader(val_data, batch_size=batch_size),
        ckpt_path=resume,
    )
    return trainer


def save_weights(path: Path, module, trainer, codebook_hash: str | None = None) -> None:
    atomic_torch_save(
        {
            "kwargs": module.model_kwargs,
            "state_dict": module.model.state_dict(),
            "codebook_hash": codebook_hash,
            "steps": trainer.global_step,
            "time_limit_reached": time_limit_reached(trainer, module.cfg.trainer),
        },
        path,
    )


def _weights(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} '{path}' not found: train that stage first (lvt train)")
    payload = load_checkpoint(path, weights_only=True)
    missing = [key for key in ("kwargs", "state_dict", "steps") if key not in payload]
    if missing:
        raise InputError(f"{what} '{path}' lacks {', '.join(missing)}: it was not written by lvt train")
    return payload


def _build(model_class: type, payload: dict, path: Path):
    try:
        model = model_class(**payload["kwargs"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, ValueError) as exc:
        raise InputError(f"weights '{path}' do not fit a {model_class.__name__} ({type(exc).__name__})") from exc
    return model.eval()


def load_vqvae(run: RunDir) -> VQVAE:
    path = stage_dir(run, VQVAE_STAGE) / WEIGHTS
    return _build(VQVAE, _weights(path, "VQ-VAE weights"), path)


def load_transformer(run: RunDir, temporal: bool = True) -> LatentVideoTransformer:
    """The trained transformer; refused when it was trained on the codes of another codebook."""
    path = stage_dir(run, TRANSFORMER_STAGES[temporal]) / WEIGHTS
    payload = _weights(path, "transformer weights")
    current = load_vqvae(run).quantizer.codebook_hash()
    if payload.get("codebook_hash") != current:
        raise InputError(
            f"transformer '{path}' was trained on codes of codebook {payload.get('codebook_hash')}, but the VQ-VAE "
            f"has codebook {current}; delete {path.parent} and train it again"
        )
    return _build(LatentVideoTransformer, payload, path)


def stage_records(run: RunDir) -> dict[str, StageRecord]:
    """Steps run and time-limit flag of every finished stage of the run."""
    records = {}
    for stage in (VQVAE_STAGE, *TRANSFORMER_STAGES.values()):
        path = stage_dir(run, stage) / WEIGHTS
        if path.is_file():
            payload = _weights(path, "weights")
            records[stage] = StageRecord(int(payload["steps"]), bool(payload.get("time_limit_reached", False)))
    return records


def train_vqvae(cfg: LVTConfig, run: RunDir) -> Path:
    stage = stage_dir(run, VQVAE_STAGE)
    final = stage / WEIGHTS
    if final.is_file():
        return final
    seed_everything(cfg.seed)
    train_frames = FrameDataset(build_video_dataset(cfg.data, "train"), cfg.data.num_frames)
    test_frames = FrameDataset(build_video_dataset(cfg.data, "test"), cfg.data.num_frames)
    # a fixed, spread-out subset of test frames is enough to follow reconstruction quality
    stride = max(1, len(test_frames) // 256)
    val_frames = Subset(test_frames, range(0, len(test_frames), stride))
    module = VQVAEModule(cfg.vqvae, cfg.seed)
    trainer = _fit(module, stage, _trainer_config(cfg.vqvae.trainer, cfg), train_frames, val_frames,
                   cfg.vqvae.batch_size, cfg.seed)
    if trainer.is_global_zero:
        save_weights(final, module, trainer)
    trainer.strategy.barrier()  # under DDP the other ranks continue only once the weights are on disk
    return final


def encode_latents(cfg: LVTConfig, run: RunDir) -> tuple[torch.Tensor, torch.Tensor]:
    """(train codes, test codes), each (N, T, h, w, n_c); cached under ``run/latents``."""
    vqvae = load_vqvae(run)
    device = select_device(cfg.device)
    codes = []
    for split in ("train", "test"):
        videos = build_video_dataset(cfg.data, split)
        codes.append(cached_latents(latents_path(run, split), vqvae, videos, device=device))
    return codes[0], codes[1]


def per_frame_settings(cfg: TransformerConfig) -> TransformerConfig:
    """The same transformer on single latent frames: no temporal subscale, blocks and kernels one frame deep, its
    own step count when ``no_temporal_max_steps`` is set."""
    steps = cfg.trainer.max_steps if cfg.no_temporal_max_steps is None else cfg.no_temporal_max_steps
    return replace(
        cfg,
        subscale=(1, cfg.subscale[1], cfg.subscale[2]),
        encoder_blocks=[(1, b[1], b[2]) for b in cfg.encoder_blocks],
        decoder_blocks=[(1, b[1], b[2]) for b in cfg.decoder_blocks],
        encoder_kernel=(1, cfg.encoder_kernel[1], cfg.encoder_kernel[2]),
        num_priming_frames=0,
        trainer=replace(cfg.trainer, max_steps=steps),
    )


def frames_as_videos(codes: torch.Tensor, first_frame: int = 0) -> torch.Tensor:
    """(N, T, h, w, n_c) -> one-frame videos (N * (T - first_frame), 1, h, w, n_c)."""
    return codes[:, first_frame:].flatten(0, 1).unsqueeze(1)


def transformer_data(cfg: LVTConfig, run: RunDir, vqvae: VQVAE, temporal: bool):
    """(settings, train codes, test codes) for the temporal model or the per-frame model."""
    train_codes = load_latents(latents_path(run, "train"), vqvae)
    test_codes = load_latents(latents_path(run, "test"), vqvae)
    settings = cfg.transformer
    if not temporal:
        settings = per_frame_settings(settings)
        train_codes = frames_as_videos(train_codes)
        # scored on exactly the positions the temporal model is scored on: the frames after the priming ones
        test_codes = frames_as_videos(test_codes, cfg.transformer.num_priming_frames)
    return settings, train_codes, test_codes


def train_transformer(cfg: LVTConfig, run: RunDir, temporal: bool = True) -> Path:
    stage = stage_dir(run, TRANSFORMER_STAGES[temporal])
    final = stage / WEIGHTS
    if final.is_file():
        load_transformer(run, temporal)  # refuses weights trained on another codebook's codes
        return final
    seed_everything(cfg.seed)
    vqvae = load_vqvae(run)
    settings, train_codes, test_codes = transformer_data(cfg, run, vqvae, temporal)
    settings = replace(settings, trainer=_trainer_config(settings.trainer, cfg))
    architecture = model_kwargs(LatentVideoTransformer, settings, video_shape=tuple(train_codes.shape[1:4]),
                                num_channels=vqvae.num_parts, codebook_size=vqvae.codebook_size)
    module = TransformerModule(settings, architecture, cfg.seed)
    val_stride = max(1, len(test_codes) // 64)
    trainer = _fit(module, stage, settings.trainer, TensorRows(train_codes), TensorRows(test_codes[::val_stride]),
                   settings.batch_size, cfg.seed)
    if trainer.is_global_zero:
        save_weights(final, module, trainer, vqvae.quantizer.codebook_hash())
    trainer.strategy.barrier()
    return final


def train(cfg: LVTConfig, run_dir) -> Path:
    """Both stages in order, each skipped when already finished; returns the run folder."""
    run = RunDir(run_dir).create()
    run.save_config(cfg)
    use_threads(cfg.num_threads)
    train_vqvae(cfg, run)
    encode_latents(cfg, run)
    train_transformer(cfg, run, temporal=True)
    if cfg.transformer.train_no_temporal:
        train_transformer(cfg, run, temporal=False)
    return run.path
