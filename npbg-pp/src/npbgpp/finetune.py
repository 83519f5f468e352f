"""Per-scene optimisation with Lightning: NPBG++ fine-tuning ("ft", "ft-system") and the NPBG-style baseline.

- ft: the per-point coefficients beta, beta0 and the refiner are optimised (extractor and basis frozen).
- ft-system: extractor, basis MLP and refiner are optimised; descriptors are re-aggregated from input views
  chosen by baseline angle at every step (and from all input views for evaluation).
- baseline: NPBG-style free descriptors (one vector per point, no view dependence) optimised from scratch with the
  same rasteriser and refiner (initialised from the trained NPBG++ refiner unless baseline.refiner_init=random).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from shared_utils.metrics import psnr
from shared_utils.training import TrainerConfig, build_trainer
from torch import nn
from torch.utils.data import DataLoader, Dataset

from npbgpp.config import NPBGPPConfig
from npbgpp.losses import NPBGPPLoss
from npbgpp.models.npbgpp import NPBGPP, PointDescriptors
from npbgpp.scenes.scene import SceneData
from npbgpp.scenes.views import select_input_views

log = logging.getLogger(__name__)

FitMode = Literal["ft", "ft-system", "baseline"]


def scene_views(scene: SceneData, indices, device):
    for index in indices:
        yield scene.images[index].to(device), scene.intrinsics[index].to(device), scene.w2c[index].to(device)


@torch.no_grad()
def build_scene(model: NPBGPP, scene: SceneData, device=None) -> PointDescriptors:
    """Modeling stage over all input views of a scene, one view at a time."""
    device = device or next(model.parameters()).device
    return model.aggregate(scene_views(scene, scene.input_indices.tolist(), device), scene.points.to(device))


@torch.no_grad()
def render_views(render_fn, scene: SceneData, indices, batch: int = 4) -> torch.Tensor:
    """(F, 3, H, W) renders clamped to [0, 1]; ``render_fn(intrinsics, w2c, height, width)``."""
    outputs = []
    for chunk in torch.as_tensor(indices).split(batch):
        outputs.append(render_fn(scene.intrinsics[chunk], scene.w2c[chunk], scene.height, scene.width).clamp(0, 1))
    return torch.cat(outputs)


class RandomInputViews(Dataset):
    """Batches of input-view indices of one scene (hold-out frames are never optimised on)."""

    def __init__(self, scene: SceneData, steps: int, views_per_step: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        inputs = scene.input_indices
        self.batches = inputs[torch.randint(inputs.numel(), (steps, views_per_step), generator=generator)]

    def __len__(self) -> int:
        return self.batches.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.batches[index]


def _first(batch: list[torch.Tensor]) -> torch.Tensor:
    return batch[0]


class SceneFitting(L.LightningModule):
    def __init__(self, model: NPBGPP, scene: SceneData, mode: FitMode, cfg: NPBGPPConfig,
                 descriptors: PointDescriptors | None = None) -> None:
        super().__init__()
        self.cfg, self.mode, self.scene = cfg, mode, scene
        self.model = copy.deepcopy(model)
        self.__dict__["criterion"] = NPBGPPLoss(cfg.loss)
        self.model.requires_grad_(False)
        self.model.refiner.requires_grad_(True)
        if mode == "baseline":
            if cfg.baseline.refiner_init == "random":
                self.model.refiner = type(self.model.refiner)(cfg.extractor.out_channels, cfg.render.refiner_channels)
            self.register_buffer("points", scene.points.clone())
            generator = torch.Generator().manual_seed(cfg.seed)
            self.free_descriptors = nn.Parameter(
                0.1 * torch.randn(scene.points.shape[0], cfg.extractor.out_channels, generator=generator)
            )
        elif mode == "ft":
            if descriptors is None:
                raise ValueError("ft needs the descriptors of the built scene")
            self.register_buffer("points", descriptors.points.detach().clone())
            self.beta = nn.Parameter(descriptors.beta.detach().clone())
            self.beta0 = nn.Parameter(descriptors.beta0.detach().clone())
        else:
            self.model.extractor.requires_grad_(True)
            self.model.basis.requires_grad_(True)
        self.centers = scene.camera_centers()
        self.scene_center = scene.points.mean(0)

    def on_fit_start(self) -> None:
        self.criterion.to(self.device)

    def current_descriptors(self, input_indices=None) -> PointDescriptors:
        if self.mode == "ft":
            return PointDescriptors(self.points, self.beta, self.beta0)
        indices = self.scene.input_indices.tolist() if input_indices is None else input_indices
        return self.model.aggregate(scene_views(self.scene, indices, self.device), self.scene.points.to(self.device))

    def render(self, intrinsics, w2c, height, width, input_indices=None) -> torch.Tensor:
        intrinsics, w2c = intrinsics.to(self.device), w2c.to(self.device)
        if self.mode == "baseline":
            return self.model.render_with(lambda _: self.free_descriptors, self.points, intrinsics, w2c, height, width)
        return self.model.render(self.current_descriptors(input_indices), intrinsics, w2c, height, width)

    def training_step(self, view_ids: torch.Tensor, batch_idx: int) -> torch.Tensor:
        scene = self.scene
        inputs = None
        if self.mode == "ft-system":
            target = int(view_ids[0])
            others = scene.input_indices[scene.input_indices != target]
            inputs = select_input_views(self.centers, others, self.centers[target], self.scene_center,
                                        self.cfg.train.num_input_views, self.cfg.train.optimal_angle_deg,
                                        self.cfg.train.angle_sigma_deg, generator=torch.default_generator).tolist()
        prediction = self.render(scene.intrinsics[view_ids], scene.w2c[view_ids], scene.height, scene.width, inputs)
        terms = self.criterion.image_terms(prediction, scene.images[view_ids].to(self.device))
        loss = sum(terms.values())
        self.log("fit/loss", loss, batch_size=len(view_ids))
        return loss

    def configure_optimizers(self):
        if self.mode == "baseline":
            groups = [{"params": [self.free_descriptors], "lr": self.cfg.baseline.descriptor_lr},
                      {"params": self.model.refiner.parameters(), "lr": self.cfg.baseline.refiner_lr}]
        elif self.mode == "ft":
            groups = [{"params": [self.beta, self.beta0], "lr": self.cfg.finetune.descriptor_lr},
                      {"params": self.model.refiner.parameters(), "lr": self.cfg.finetune.lr}]
        else:
            groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": self.cfg.finetune.lr}]
        return torch.optim.Adam(groups)

    @torch.no_grad()
    def holdout_psnr(self) -> float:
        was_training = self.training
        self.eval()
        frames = self.scene.holdout_indices
        if self.mode == "ft-system":
            descriptors = self.current_descriptors()
            renders = render_views(lambda k, t, h, w: self.model.render(descriptors, k.to(self.device),
                                                                        t.to(self.device), h, w),
                                   self.scene, frames)
        else:
            renders = render_views(self.render, self.scene, frames)
        self.train(was_training)
        targets = self.scene.images[frames].to(renders.device)
        return float(psnr(renders, targets, crop_border=self.cfg.eval.crop_border).mean())


class QualityTimeline(L.Callback):
    """Hold-out PSNR against optimisation time (evaluation time excluded), as in thesis Fig. 9."""

    def __init__(self, every: int, start_seconds: float = 0.0) -> None:
        self.every = every
        self.points: list[dict] = []
        self.fit_seconds = start_seconds
        self._tick = None

    def _record(self, module: SceneFitting, step: int) -> None:
        self.points.append({"step": step, "seconds": self.fit_seconds, "psnr": module.holdout_psnr()})

    def on_train_start(self, trainer, module) -> None:
        self._record(module, 0)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._tick = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.fit_seconds += time.perf_counter() - self._tick
        step = trainer.global_step
        if step % self.every == 0 or step >= trainer.max_steps:
            self._record(module, step)


def fit_scene(model: NPBGPP, scene: SceneData, mode: FitMode, cfg: NPBGPPConfig, output_dir: Path,
              descriptors: PointDescriptors | None = None, start_seconds: float = 0.0):
    """Optimise on the scene's input views; returns (fitted module, timeline of hold-out PSNR)."""
    steps = cfg.baseline.steps if mode == "baseline" else cfg.finetune.steps
    views = cfg.baseline.batch_views if mode == "baseline" else cfg.finetune.batch_views
    every = cfg.baseline.eval_every if mode == "baseline" else cfg.finetune.eval_every
    module = SceneFitting(model, scene, mode, cfg, descriptors)
    timeline = QualityTimeline(every, start_seconds)
    trainer_cfg = TrainerConfig(max_steps=steps, accelerator=cfg.train.trainer.accelerator, devices=1,
                                log_every_n_steps=max(1, min(50, steps)), check_val_every_n_epoch=None,
                                enable_progress_bar=False)
    trainer = build_trainer(trainer_cfg, output_dir, extra_callbacks=[timeline])
    loader = DataLoader(RandomInputViews(scene, steps, views, cfg.seed), batch_size=1, collate_fn=_first)
    log.info("%s on scene %s: %d steps", mode, scene.name, steps)
    trainer.fit(module, loader)
    return module.eval(), timeline.points
