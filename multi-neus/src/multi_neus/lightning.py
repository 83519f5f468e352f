"""Lightning modules: meta-learning over many scenes, and fitting one new scene (scene-only / all / scratch)."""

from __future__ import annotations

import lightning as L
import torch
from shared_utils.schedules import warmup_cosine_scheduler
from torch import nn

from .config import MultiNeuSConfig
from .geometry.rays import camera_rays
from .losses import neus_loss
from .models.multi_neus import MultiNeuS
from .models.renderer import render_rays

# The fitting stages end their cosine at 5 % of the base rate, as NeuS does.
FIT_LR_FLOOR = 0.05


class _StepSeeded(L.LightningModule):
    """Seeds the renderer's sample jitter from (seed, step) before every step, so that a run resumed from a
    checkpoint draws the same jitter as the uninterrupted run (Lightning does not checkpoint torch's RNG)."""

    def __init__(self, seed: int):
        super().__init__()
        self.step_seed = seed

    def on_train_batch_start(self, batch, batch_idx):
        torch.manual_seed(self.step_seed * 1_000_003 + self.global_step)


class MetaLearner(_StepSeeded):
    """Trains the shared layers on all scenes and each scene's own layers on its batches (one scene per step)."""

    def __init__(self, cfg: MultiNeuSConfig, scene_names: list[str]):
        super().__init__(cfg.seed)
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
        schedule = warmup_cosine_scheduler(optimizer, meta.warmup_steps, max(1, meta.trainer.max_steps), meta.lr_floor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class SceneFitter(_StepSeeded):
    """Fits scene 0 of a one-scene model to a few views.

    mode "scene": only scene-specific parameters (and camera corrections), step decay x0.1 at ``stage1_decay_step``;
    mode "all": every parameter at ``stage2_lr`` with warm-up; mode "scratch": plain NeuS training of every parameter.

    With ``fit.cameras.enabled`` each view has an se(3) pose correction and log focal coefficients for fx and fy.
    ``initial_corrections`` (pose (V, 6), log focal (V, 2)) continue the corrections of an earlier stage; without
    them they start at zero (the PnP / training camera).
    """

    def __init__(self, cfg: MultiNeuSConfig, model: MultiNeuS, mode: str, num_views: int, max_steps: int,
                 initial_corrections: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(cfg.seed)
        if mode not in ("scene", "all", "scratch"):
            raise ValueError(f"unknown fitting mode {mode!r}")
        self.cfg, self.model, self.mode, self.max_steps = cfg, model, mode, max_steps
        # Stage 1 freezes the shared layers: skipping their weight gradients saves a third of the backward pass.
        for p in model.parameters():
            p.requires_grad_(mode != "scene")
        for p in model.scene_parameters(0):
            p.requires_grad_(True)
        self.pose_correction = self.log_focal_correction = None
        if cfg.fit.cameras.enabled:
            pose, focal = initial_corrections or (torch.zeros(num_views, 6), torch.zeros(num_views, 2))
            if pose.shape != (num_views, 6) or focal.shape != (num_views, 2):
                raise ValueError(f"camera corrections of shapes {tuple(pose.shape)}, {tuple(focal.shape)} do not "
                                 f"fit {num_views} views")
            self.pose_correction = nn.Parameter(pose.detach().clone().float())
            self.log_focal_correction = nn.Parameter(focal.detach().clone().float())

    def corrections(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.pose_correction is None:
            return None
        return self.pose_correction.detach().clone(), self.log_focal_correction.detach().clone()

    def corrections_active(self) -> bool:
        cams = self.cfg.fit.cameras
        return cams.enabled and self.global_step >= cams.start_fraction * self.max_steps

    def camera_corrections(self, views: torch.Tensor):
        if self.pose_correction is None:
            return None, None
        pose, focal = self.pose_correction[views], self.log_focal_correction[views]
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
        camera_group = [{"params": camera_params, "lr": fit.cameras.lr}] if camera_params else []
        if self.mode == "scene":
            optimizer = torch.optim.Adam([{"params": self.model.scene_parameters(0), "lr": fit.stage1_lr},
                                          *camera_group])
            decay = fit.stage1_decay_step
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.1 if step >= decay else 1.0)
        else:
            lr = fit.stage2_lr if self.mode == "all" else fit.scratch_lr
            warmup = fit.stage2_warmup if self.mode == "all" else fit.scratch_warmup
            optimizer = torch.optim.Adam([{"params": list(self.model.parameters()), "lr": lr}, *camera_group])
            scheduler = warmup_cosine_scheduler(optimizer, warmup, max(1, self.max_steps), FIT_LR_FLOOR)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
