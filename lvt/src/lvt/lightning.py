"""Lightning modules of the two stages: the VQ-VAE on single frames and the latent transformer on latent videos.

Both take their stage's config whole. Every training step reseeds torch from (seed, step), so that the random parts
of a step (dead-code restarts, the slice each sample trains on, dropout) are the same in a run resumed from
``last.ckpt`` as in an uninterrupted one.
"""

from __future__ import annotations

import inspect
import math

import lightning
import torch
from shared_utils.errors import InputError
from shared_utils.metrics import psnr, ssim
from shared_utils.schedules import warmup_cosine_scheduler

from lvt.config import TransformerConfig, VQVAEConfig
from lvt.data.order import step_seed
from lvt.data.videos import to_unit_range
from lvt.losses import bits_per_dim, slice_cross_entropy
from lvt.models.subscale import trainable_slices
from lvt.models.transformer import LatentVideoTransformer
from lvt.models.vqvae import VQVAE


def model_kwargs(model_class: type, stage_cfg, **given) -> dict:
    """Constructor arguments of ``model_class``: those the stage config names (same names), plus ``given`` ones
    that come from elsewhere (the latent shape, the codebook). Saved beside the weights to rebuild the network."""
    names = inspect.signature(model_class).parameters
    from_config = {name: getattr(stage_cfg, name) for name in names if name not in given and hasattr(stage_cfg, name)}
    return {**from_config, **given}


class StepSeededModule(lightning.LightningModule):
    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.seed, self.global_step))


class VQVAEModule(StepSeededModule):
    def __init__(self, cfg: VQVAEConfig, seed: int):
        super().__init__(seed)
        self.cfg = cfg
        self.model_kwargs = model_kwargs(VQVAE, cfg)
        self.model = VQVAE(**self.model_kwargs)

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
        return torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, betas=tuple(self.cfg.betas))


class TransformerModule(StepSeededModule):
    """Trains on one random slice per sample (among the slices that hold non-priming positions)."""

    def __init__(self, cfg: TransformerConfig, architecture: dict, seed: int):
        super().__init__(seed)
        self.cfg = cfg
        self.model_kwargs = architecture
        self.model = LatentVideoTransformer(**architecture)
        self.slices = trainable_slices(self.model.video_shape[0], self.model.subscale, cfg.num_priming_frames)
        if not self.slices:
            raise InputError(f"transformer.num_priming_frames={cfg.num_priming_frames} leaves nothing to predict")
        if cfg.lr_schedule == "cosine" and cfg.trainer.max_steps <= 0:
            raise InputError("transformer.lr_schedule=cosine needs a positive transformer.trainer.max_steps")

    def _scored(self, video: torch.Tensor, slice_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, targets = self.model(video, slice_index)
        return slice_cross_entropy(logits, targets, slice_index, self.model.subscale, self.cfg.num_priming_frames)

    def training_step(self, video: torch.Tensor, batch_idx: int) -> torch.Tensor:
        slices = torch.tensor(self.slices, device=video.device)
        choice = slices[torch.randint(len(self.slices), (video.shape[0],)).to(video.device)]
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
        cfg = self.cfg
        params = self.model.parameters()
        if cfg.optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=cfg.lr)
        else:
            optimizer = torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rmsprop_alpha, momentum=cfg.momentum)
        if cfg.lr_schedule == "constant":
            return optimizer
        scheduler = warmup_cosine_scheduler(optimizer, cfg.warmup_steps, cfg.trainer.max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
