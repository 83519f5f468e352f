"""Lightning modules: meta-learning over many scenes, and fitting one new scene (scene-only / all / scratch)."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import nn

from .config import MultiNeuSConfig
from .geometry.rays import camera_rays
from .losses import neus_loss
from .models.multi_neus import MultiNeuS
from .models.renderer import render_rays


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up to 1 then cosine decay to ``floor`` (the NeuS schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class MetaLearner(L.LightningModule):
    """Trains the shared layers on all scenes and each scene's own layers on its batches (one scene per step)."""

    def __init__(self, cfg: MultiNeuSConfig, scene_names: list[str]):
        super().__init__()
        self.cfg = cfg
        self.scene_names = list(scene_names)
        self.model = MultiNeuS(cfg, len(scene_names))
        self.save_hyperparameters({"scene_names": self.scene_names})

    def training_step(self, batch, batch_idx):
        scene = int(batch["scene"])
        origins, directions = camera_rays(batch["pixels"], batch["intrinsics"], batch["c2w"])
        render = render_rays(self.model, scene, origins, directions, self.cfg.renderer)
        losses = neus_loss(render, batch["rgb"], batch["mask"], self.cfg.loss)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, prog_bar=False, batch_size=1)
        self.log("train/inv_s", render["inv_s"], batch_size=1)
        return losses["loss"]

    def configure_optimizers(self):
        meta = self.cfg.meta
        # Adam skips parameters whose gradient is None, so a step only moves the shared layers and the
        # current scene's separate per-scene Parameters (Lightning zeroes gradients with set_to_none=True).
        optimizer = torch.optim.Adam(self.model.parameters(), lr=meta.lr)
        total = max(1, meta.trainer.max_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, meta.warmup_steps, total, meta.lr_floor)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class SceneFitter(L.LightningModule):
    """Fits scene 0 of a one-scene model to a few views.

    mode "scene": only scene-specific parameters (and camera corrections), step decay x0.1 at ``stage1_decay_step``;
    mode "all": every parameter at ``stage2_lr`` with warm-up; mode "scratch": plain NeuS training of every parameter.
    """

    def __init__(self, cfg: MultiNeuSConfig, model: MultiNeuS, mode: str, num_views: int, max_steps: int):
        super().__init__()
        if mode not in ("scene", "all", "scratch"):
            raise ValueError(f"unknown fitting mode {mode!r}")
        self.cfg, self.model, self.mode, self.max_steps = cfg, model, mode, max_steps
        # Stage 1 freezes the shared layers: skipping their weight gradients saves a third of the backward pass.
        for p in model.parameters():
            p.requires_grad_(mode != "scene")
        for p in model.scene_parameters(0):
            p.requires_grad_(True)
        cams = cfg.fit.cameras
        self.pose_correction = nn.Parameter(torch.zeros(num_views, 6)) if cams.enabled else None
        self.log_focal_correction = nn.Parameter(torch.zeros(1)) if cams.enabled else None

    def corrections_active(self) -> bool:
        cams = self.cfg.fit.cameras
        return cams.enabled and self.global_step >= cams.start_fraction * self.max_steps

    def camera_corrections(self, views: torch.Tensor):
        if self.pose_correction is None:
            return None, None
        pose, focal = self.pose_correction[views], self.log_focal_correction.expand(views.shape[0])
        if not self.corrections_active():
            pose, focal = pose.detach(), focal.detach()
        return pose, focal

    def training_step(self, batch, batch_idx):
        pose, focal = self.camera_corrections(batch["view"])
        origins, directions = camera_rays(batch["pixels"], batch["intrinsics"], batch["c2w"], pose, focal)
        render = render_rays(self.model, 0, origins, directions, self.cfg.renderer)
        losses = neus_loss(render, batch["rgb"], batch["mask"], self.cfg.loss, self.cfg.fit.mask_weight)
        self.log_dict({f"fit/{k}": v.detach() for k, v in losses.items()}, batch_size=1)
        return losses["loss"]

    def configure_optimizers(self):
        fit = self.cfg.fit
        camera_params = [p for p in (self.pose_correction, self.log_focal_correction) if p is not None]
        if self.mode == "scene":
            groups = [{"params": self.model.scene_parameters(0), "lr": fit.stage1_lr}]
            decay = fit.stage1_decay_step

            def schedule(step):
                return 0.1 if step >= decay else 1.0
        else:
            lr = fit.stage2_lr if self.mode == "all" else fit.scratch_lr
            warmup = fit.stage2_warmup if self.mode == "all" else fit.scratch_warmup
            groups = [{"params": list(self.model.parameters()), "lr": lr}]
            total = self.max_steps

            def schedule(step):
                return warmup_cosine(step, warmup, total, 0.05)
        if camera_params:
            groups.append({"params": camera_params, "lr": fit.cameras.lr})
        optimizer = torch.optim.Adam(groups)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
