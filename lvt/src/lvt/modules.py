"""Lightning modules of the two stages: the VQ-VAE on single frames and the latent transformer on latent videos."""

from __future__ import annotations

import functools
import math
import random

import lightning
import torch
from shared_utils.metrics import psnr, ssim

from lvt.config import TransformerConfig, VQVAEConfig
from lvt.data.videos import to_unit_range
from lvt.losses import bits_per_dim, slice_cross_entropy
from lvt.models.subscale import trainable_slices
from lvt.models.transformer import LatentVideoTransformer
from lvt.models.vqvae import VQVAE


def vqvae_kwargs(cfg: VQVAEConfig) -> dict:
    return dict(
        hidden_channels=cfg.hidden_channels,
        channels=cfg.channels,
        res_channels=cfg.res_channels,
        num_res_blocks=cfg.num_res_blocks,
        num_downsamples=cfg.num_downsamples,
        num_parts=cfg.num_parts,
        codebook_size=cfg.codebook_size,
        shared_codebook=cfg.shared_codebook,
        ema_decay=cfg.ema_decay,
        ema_epsilon=cfg.ema_epsilon,
        commitment_weight=cfg.commitment_weight,
        dead_code_threshold=cfg.dead_code_threshold,
    )


def transformer_kwargs(cfg: TransformerConfig, video_shape, num_channels: int, codebook_size: int) -> dict:
    return dict(
        video_shape=tuple(video_shape),
        num_channels=num_channels,
        codebook_size=codebook_size,
        subscale=tuple(cfg.subscale),
        embedding_dim=cfg.embedding_dim,
        width=cfg.width,
        attention_dim=cfg.attention_dim,
        ffn_dim=cfg.ffn_dim,
        num_heads=cfg.num_heads,
        encoder_layers=cfg.encoder_layers,
        decoder_layers=cfg.decoder_layers,
        encoder_kernel=tuple(cfg.encoder_kernel),
        decoder_kernel=tuple(cfg.decoder_kernel),
        encoder_blocks=[tuple(b) for b in cfg.encoder_blocks],
        decoder_blocks=[tuple(b) for b in cfg.decoder_blocks],
        dropout=cfg.dropout,
    )


class VQVAEModule(lightning.LightningModule):
    def __init__(self, model_kwargs: dict, lr: float = 3e-4, betas: tuple[float, float] = (0.9, 0.9)):
        super().__init__()
        self.save_hyperparameters()
        self.model = VQVAE(**model_kwargs)

    def training_step(self, frames: torch.Tensor, batch_idx: int) -> torch.Tensor:
        out = self.model(frames)
        self.log_dict(
            {
                "train/loss": out.loss,
                "train/reconstruction": out.reconstruction_loss,
                "train/commitment": out.commitment_loss,
                "train/perplexity": out.perplexity,
                "train/codebook_usage": out.usage,
            },
            prog_bar=False,
        )
        self.log("loss", out.loss, prog_bar=True, logger=False)
        return out.loss

    def validation_step(self, frames: torch.Tensor, batch_idx: int) -> None:
        out = self.model(frames)
        pred, target = to_unit_range(out.reconstruction).movedim(-1, -3), to_unit_range(frames).movedim(-1, -3)
        self.log_dict(
            {
                "val/loss": out.loss,
                "val/psnr": psnr(pred, target).mean(),
                "val/ssim": ssim(pred, target).mean(),
                "val/perplexity": out.perplexity,
            },
            sync_dist=True,
        )

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas))


class TransformerModule(lightning.LightningModule):
    """Trains on one random slice per sample (among the slices that hold non-priming positions)."""

    def __init__(
        self,
        model_kwargs: dict,
        num_priming_frames: int = 1,
        optimizer: str = "rmsprop",
        lr: float = 2e-5,
        rmsprop_alpha: float = 0.95,
        momentum: float = 0.9,
        lr_schedule: str = "constant",
        warmup_steps: int = 0,
        max_steps: int = -1,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = LatentVideoTransformer(**model_kwargs)
        self.slices = trainable_slices(self.model.video_shape[0], self.model.subscale, num_priming_frames)
        if not self.slices:
            raise ValueError(f"{num_priming_frames} priming frames leave nothing to predict")

    def _scored(self, video: torch.Tensor, slice_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, targets = self.model(video, slice_index)
        return slice_cross_entropy(logits, targets, slice_index, self.model.subscale, self.hparams.num_priming_frames)

    def training_step(self, video: torch.Tensor, batch_idx: int) -> torch.Tensor:
        choice = torch.tensor(
            [random.choice(self.slices) for _ in range(video.shape[0])], dtype=torch.long, device=video.device
        )
        nats, dims = self._scored(video, choice)
        loss = nats / dims.clamp_min(1)
        self.log("train/loss", loss)
        self.log("train/bits_per_dim", loss / math.log(2.0), prog_bar=True)
        return loss

    def validation_step(self, video: torch.Tensor, batch_idx: int) -> None:
        total = video.new_zeros((), dtype=torch.float32)
        count = video.new_zeros((), dtype=torch.float32)
        for n in self.slices:
            nats, dims = self._scored(video, torch.full((video.shape[0],), n, dtype=torch.long, device=video.device))
            total, count = total + nats, count + dims
        self.log("val/bits_per_dim", bits_per_dim(total, count), sync_dist=True, batch_size=video.shape[0])

    def configure_optimizers(self):
        params = self.model.parameters()
        if self.hparams.optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=self.hparams.lr)
        else:
            optimizer = torch.optim.RMSprop(
                params, lr=self.hparams.lr, alpha=self.hparams.rmsprop_alpha, momentum=self.hparams.momentum
            )
        if self.hparams.lr_schedule == "constant":
            return optimizer
        if self.hparams.max_steps <= 0:
            raise ValueError("transformer.lr_schedule=cosine needs a positive transformer.trainer.max_steps")
        factor = functools.partial(lr_factor, warmup_steps=self.hparams.warmup_steps, max_steps=self.hparams.max_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def lr_factor(step: int, warmup_steps: int, max_steps: int) -> float:
    """Multiplier of the base learning rate: linear warm-up to 1, then cosine decay to 0 at ``max_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))
