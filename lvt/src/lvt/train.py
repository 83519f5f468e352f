"""The training stages: VQ-VAE on frames, latent extraction, transformer (with and without temporal context).

Run folder layout (every stage resumable: a finished stage is reused, an interrupted one resumes from last.ckpt):
    config.yaml
    vqvae/{checkpoints,logs}/, vqvae/vqvae.pt
    latents/{train,test}.pt                       codes + codebook hash
    transformer/{checkpoints,logs}/, transformer/transformer.pt
    transformer_no_temporal/...                   the per-frame model
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save
from shared_utils.runtime import seed_everything, select_device
from shared_utils.training import build_trainer, last_checkpoint
from torch.utils.data import DataLoader, Dataset, Subset

from lvt.config import LVTConfig, TransformerConfig
from lvt.data.videos import FrameDataset, build_video_dataset
from lvt.latents import cached_latents, load_latents
from lvt.models.transformer import LatentVideoTransformer
from lvt.models.vqvae import VQVAE
from lvt.modules import TransformerModule, VQVAEModule, transformer_kwargs, vqvae_kwargs

VQVAE_FILE = "vqvae/vqvae.pt"
TRANSFORMER_DIRS = {True: "transformer", False: "transformer_no_temporal"}


class TensorRows(Dataset):
    """Rows of one tensor as samples."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor[index]


def _trainer_config(trainer_cfg, cfg: LVTConfig):
    """The stage's trainer settings; ``device: cpu`` pins the accelerator."""
    if cfg.device == "cpu" and trainer_cfg.accelerator == "auto":
        return replace(trainer_cfg, accelerator="cpu")
    return trainer_cfg


def save_model(path: Path, kwargs: dict, model: torch.nn.Module, codebook_hash: str | None = None) -> None:
    atomic_torch_save({"kwargs": kwargs, "state_dict": model.state_dict(), "codebook_hash": codebook_hash}, path)


def _load_payload(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} '{path}' not found (train that stage first)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(f"{what} '{path}' is corrupt ({type(exc).__name__})") from exc


def load_vqvae(run_dir: str | Path) -> VQVAE:
    payload = _load_payload(Path(run_dir) / VQVAE_FILE, "VQ-VAE weights")
    model = VQVAE(**payload["kwargs"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def load_transformer(run_dir: str | Path, temporal: bool = True) -> LatentVideoTransformer:
    """The trained transformer; refused when it was trained on the codes of another codebook."""
    path = Path(run_dir) / TRANSFORMER_DIRS[temporal] / "transformer.pt"
    payload = _load_payload(path, "transformer weights")
    current = load_vqvae(run_dir).quantizer.codebook_hash()
    if payload.get("codebook_hash") != current:
        raise InputError(
            f"transformer '{path}' was trained on codes of codebook {payload.get('codebook_hash')}, but the VQ-VAE "
            f"has codebook {current}; delete {path.parent} and train it again"
        )
    model = LatentVideoTransformer(**payload["kwargs"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def train_vqvae(cfg: LVTConfig, run_dir: str | Path) -> Path:
    out = Path(run_dir) / "vqvae"
    final = Path(run_dir) / VQVAE_FILE
    if final.is_file():
        return final
    seed_everything(cfg.seed)
    train_frames = FrameDataset(build_video_dataset(cfg.data, "train"), cfg.data.num_frames)
    test_frames = FrameDataset(build_video_dataset(cfg.data, "test"), cfg.data.num_frames)
    # a fixed, spread-out subset of test frames is enough to follow reconstruction quality
    stride = max(1, len(test_frames) // 256)
    val_frames = Subset(test_frames, range(0, len(test_frames), stride))
    module = VQVAEModule(vqvae_kwargs(cfg.vqvae), lr=cfg.vqvae.lr, betas=tuple(cfg.vqvae.betas))
    trainer = build_trainer(_trainer_config(cfg.vqvae.trainer, cfg), out)
    trainer.fit(
        module,
        DataLoader(train_frames, batch_size=cfg.vqvae.batch_size, shuffle=True, drop_last=True),
        DataLoader(val_frames, batch_size=cfg.vqvae.batch_size),
        ckpt_path=last_checkpoint(out),
    )
    if trainer.is_global_zero:
        save_model(final, module.hparams.model_kwargs, module.model)
    trainer.strategy.barrier()  # under DDP the other ranks continue only once the weights are on disk
    return final


def encode_latents(cfg: LVTConfig, run_dir: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(train codes, test codes), each (N, T, h, w, n_c); cached under ``run_dir/latents``."""
    vqvae = load_vqvae(run_dir)
    device = select_device(cfg.device)
    codes = []
    for split in ("train", "test"):
        videos = build_video_dataset(cfg.data, split)
        codes.append(cached_latents(Path(run_dir) / "latents" / f"{split}.pt", vqvae, videos, device=device))
    return codes[0], codes[1]


def per_frame_settings(cfg: TransformerConfig) -> TransformerConfig:
    """The same transformer on single latent frames: no temporal subscale, blocks and kernels one frame deep."""
    return replace(
        cfg,
        subscale=(1, cfg.subscale[1], cfg.subscale[2]),
        encoder_blocks=[(1, b[1], b[2]) for b in cfg.encoder_blocks],
        decoder_blocks=[(1, b[1], b[2]) for b in cfg.decoder_blocks],
        encoder_kernel=(1, cfg.encoder_kernel[1], cfg.encoder_kernel[2]),
        num_priming_frames=0,
    )


def frames_as_videos(codes: torch.Tensor, first_frame: int = 0) -> torch.Tensor:
    """(N, T, h, w, n_c) -> one-frame videos (N * (T - first_frame), 1, h, w, n_c)."""
    return codes[:, first_frame:].flatten(0, 1).unsqueeze(1)


def transformer_data(cfg: LVTConfig, run_dir: str | Path, temporal: bool):
    """(settings, train codes, test codes) for the temporal model or the per-frame model."""
    vqvae = load_vqvae(run_dir)
    train_codes = load_latents(Path(run_dir) / "latents" / "train.pt", vqvae)
    test_codes = load_latents(Path(run_dir) / "latents" / "test.pt", vqvae)
    settings = cfg.transformer
    if not temporal:
        settings = per_frame_settings(settings)
        train_codes = frames_as_videos(train_codes)
        # scored on exactly the positions the temporal model is scored on: the frames after the priming ones
        test_codes = frames_as_videos(test_codes, cfg.transformer.num_priming_frames)
    return settings, train_codes, test_codes


def train_transformer(cfg: LVTConfig, run_dir: str | Path, temporal: bool = True) -> Path:
    out = Path(run_dir) / TRANSFORMER_DIRS[temporal]
    final = out / "transformer.pt"
    if final.is_file():
        load_transformer(run_dir, temporal)  # refuses weights trained on another codebook's codes
        return final
    seed_everything(cfg.seed)
    vqvae = load_vqvae(run_dir)
    settings, train_codes, test_codes = transformer_data(cfg, run_dir, temporal)
    kwargs = transformer_kwargs(settings, train_codes.shape[1:4], vqvae.num_parts, vqvae.codebook_size)
    trainer_cfg = _trainer_config(settings.trainer, cfg)
    if not temporal and settings.no_temporal_max_steps is not None:
        trainer_cfg = replace(trainer_cfg, max_steps=settings.no_temporal_max_steps)
    module = TransformerModule(
        kwargs,
        num_priming_frames=settings.num_priming_frames,
        optimizer=settings.optimizer,
        lr=settings.lr,
        rmsprop_alpha=settings.rmsprop_alpha,
        momentum=settings.momentum,
        lr_schedule=settings.lr_schedule,
        warmup_steps=settings.warmup_steps,
        max_steps=trainer_cfg.max_steps,
    )
    trainer = build_trainer(trainer_cfg, out)
    val_stride = max(1, len(test_codes) // 64)
    trainer.fit(
        module,
        DataLoader(TensorRows(train_codes), batch_size=settings.batch_size, shuffle=True, drop_last=True),
        DataLoader(TensorRows(test_codes[::val_stride]), batch_size=settings.batch_size),
        ckpt_path=last_checkpoint(out),
    )
    if trainer.is_global_zero:
        save_model(final, kwargs, module.model, vqvae.quantizer.codebook_hash())
    trainer.strategy.barrier()
    return final


def run_training(cfg: LVTConfig, run_dir: str | Path) -> None:
    """Both stages in order, each skipped when already finished."""
    train_vqvae(cfg, run_dir)
    encode_latents(cfg, run_dir)
    train_transformer(cfg, run_dir, temporal=True)
    if cfg.transformer.train_no_temporal:
        train_transformer(cfg, run_dir, temporal=False)
