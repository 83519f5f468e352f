"""Per-scene optimisation with Lightning: NPBG++ fine-tuning ("ft", "ft-system") and the NPBG-style baseline.

- ft: the per-point coefficients beta, beta0 and the refiner are optimised (extractor and basis frozen).
- ft-system: extractor, basis MLP and refiner are optimised; descriptors are re-aggregated from input views
  chosen by baseline angle at every step (and from all input views for evaluation).
- baseline: NPBG-style free descriptors (one vector per point, no view dependence) optimised from scratch with the
  same rasteriser and refiner (initialised from the trained NPBG++ refiner unless baseline.refiner_init=random).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import torch
from shared_utils.runtime import seed_everything
from shared_utils.training import TrainerConfig, build_trainer
from torch.utils.data import DataLoader, Dataset

from npbgpp.config import NPBGPPConfig
from npbgpp.data.scene import SceneData, SceneFrames
from npbgpp.lightning import FitMode, SceneFitting
from npbgpp.models.npbgpp import NPBGPP, PointDescriptors

log = logging.getLogger(__name__)


@torch.no_grad()
def build_scene(model: NPBGPP, scene: SceneData | SceneFrames, device=None) -> PointDescriptors:
    """Modeling stage over all input views of a scene, one view at a time (from disk for ``SceneFrames``)."""
    device = device or next(model.parameters()).device
    return model.aggregate(scene.views(scene.input_indices, device), scene.points.to(device))


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
    # the baseline's fresh parameters (and any random draw of the fit) depend on the seed alone, not on what ran
    # before in the process: `eval` then repeats the fits of `pipeline` exactly
    seed_everything(cfg.seed)
    module = SceneFitting(model, scene, mode, cfg, descriptors)
    timeline = QualityTimeline(every, start_seconds)
    trainer_cfg = TrainerConfig(max_steps=steps, accelerator=cfg.trainer.accelerator, devices=1,
                                log_every_n_steps=max(1, min(50, steps)), check_val_every_n_epoch=None,
                                deterministic=cfg.trainer.deterministic)
    trainer = build_trainer(trainer_cfg, output_dir, extra_callbacks=[timeline])
    loader = DataLoader(RandomInputViews(scene, steps, views, cfg.seed), batch_size=1, collate_fn=_first)
    log.info("%s on scene %s: %d steps", mode, scene.name, steps)
    trainer.fit(module, loader)
    return module.eval(), timeline.points
