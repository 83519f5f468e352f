"""Meta-learning (multi-scene training) and fitting a new scene from a few views."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from shared_utils.io import atomic_torch_save
from shared_utils.runtime import seed_everything
from shared_utils.training import TrainerConfig, build_trainer, last_checkpoint
from shared_utils.weights import load_weights_strict
from torch.utils.data import DataLoader

from .config import MultiNeuSConfig, config_as_dict, config_from_dict
from .data.rays import MultiSceneRayDataset, SceneRays
from .data.scene import Scene
from .geometry.rays import camera_rays
from .lightning_modules import MetaLearner, SceneFitter
from .losses import neus_loss
from .models.multi_neus import MultiNeuS
from .models.renderer import render_rays

log = logging.getLogger(__name__)
MODEL_FILE = "model.pt"


def _loader(scenes: list[SceneRays], num_rays: int, max_images: int, seed: int, batches_per_epoch: int) -> DataLoader:
    dataset = MultiSceneRayDataset(scenes, num_rays, max_images, seed, batches_per_epoch)
    return DataLoader(dataset, batch_size=None, num_workers=0)


class EpochEndCheckpoint(L.Callback):
    """Writes ``last.ckpt`` at every epoch end so that an interrupted run resumes from there (Lightning's
    ModelCheckpoint, built without a monitor, only wrote it when training finished)."""

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / "checkpoints" / "last.ckpt"

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


def save_model(path: Path, cfg: MultiNeuSConfig, model: MultiNeuS, extra: dict | None = None) -> None:
    atomic_torch_save(
        {"config": config_as_dict(cfg), "num_scenes": model.num_scenes, "rank": model.rank,
         "state_dict": model.state_dict(), **(extra or {})},
        path,
    )


def load_model(path: Path) -> tuple[MultiNeuSConfig, MultiNeuS, dict]:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    cfg = config_from_dict(payload["config"])
    model = MultiNeuS(cfg, payload["num_scenes"], payload["rank"])
    load_weights_strict(model, payload["state_dict"])
    return cfg, model, payload


def meta_learn(cfg: MultiNeuSConfig, scenes: list[Scene], output_dir: Path,
               trainer_cfg: TrainerConfig | None = None) -> MultiNeuS:
    """Meta-learning over ``scenes``; resumes from ``output_dir/checkpoints/last.ckpt``; writes ``model.pt``."""
    output_dir = Path(output_dir)
    final = output_dir / MODEL_FILE
    if final.exists():
        log.info("meta-learning already finished: %s", final)
        return load_model(final)[1]
    trainer_cfg = trainer_cfg or cfg.meta.trainer
    module = MetaLearner(cfg, [s.name for s in scenes])
    loader = _loader([SceneRays(s) for s in scenes], cfg.meta.batch_rays, cfg.meta.images_per_batch, cfg.seed,
                     cfg.meta.batches_per_epoch)
    trainer = build_trainer(trainer_cfg, output_dir, extra_callbacks=[EpochEndCheckpoint(output_dir)])
    trainer.fit(module, loader, ckpt_path=last_checkpoint(output_dir))
    if trainer.is_global_zero:
        save_model(final, cfg, module.model, {"scene_names": module.scene_names})
    return module.model


def _fit_trainer_config(cfg: MultiNeuSConfig, steps: int) -> TrainerConfig:
    base = cfg.meta.trainer
    return TrainerConfig(
        max_steps=steps, accelerator=base.accelerator, devices=1, log_every_n_steps=cfg.fit.log_every_n_steps,
        enable_progress_bar=cfg.fit.enable_progress_bar,
    )


@torch.no_grad()
def aggregation_weights(cfg: MultiNeuSConfig, meta_model: MultiNeuS, scene: Scene) -> torch.Tensor:
    """Weights of the training scenes for initialising a new scene's layers.

    "mean": uniform. "weighted": softmax(-L_i / T) of the photometric + mask loss L_i of rendering the new input
    views with training scene i's layers, so identities that already explain the input dominate the average.
    """
    n = meta_model.num_scenes
    if cfg.fit.aggregation == "mean":
        return torch.full((n,), 1.0 / n)
    rays = SceneRays(scene).sample(torch.Generator().manual_seed(cfg.seed), cfg.fit.aggregation_rays, 64)
    origins, directions = camera_rays(rays["pixels"], rays["intrinsics"], rays["c2w"])
    losses = []
    for index in range(n):
        with torch.enable_grad():
            render = render_rays(meta_model, index, origins, directions, cfg.renderer, perturb=False)
        loss = neus_loss(render, rays["rgb"], rays["mask"], cfg.loss, cfg.fit.mask_weight)
        losses.append(float(loss["color"] + cfg.fit.mask_weight * loss["mask"]))
    return torch.softmax(-torch.tensor(losses) / cfg.fit.aggregation_temperature, 0)


def initial_scene_model(cfg: MultiNeuSConfig, meta_model: MultiNeuS, weights: torch.Tensor) -> MultiNeuS:
    """A one-scene model with the meta-learned shared layers and the weighted average of the scene layers."""
    model = MultiNeuS(cfg, 1, meta_model.rank)
    model.load_shared_from(meta_model)
    states = [meta_model.scene_state(i) for i in range(meta_model.num_scenes)]
    averaged = [sum(w * s[k] for w, s in zip(weights.tolist(), states, strict=True)) for k in range(len(states[0]))]
    model.load_scene_state(0, averaged)
    return model


def _run_stage(cfg, model, scene: Scene, mode, steps, output_dir) -> MultiNeuS:
    output_dir = Path(output_dir)
    final = output_dir / MODEL_FILE
    if final.exists():
        return load_model(final)[1]
    fitter = SceneFitter(cfg, model, mode, scene.num_views, steps)
    loader = _loader([SceneRays(scene)], cfg.fit.batch_rays, len(cfg.fit.views), cfg.seed + 17,
                     cfg.meta.batches_per_epoch)
    trainer_cfg = _fit_trainer_config(cfg, steps)
    trainer = build_trainer(trainer_cfg, output_dir, extra_callbacks=[EpochEndCheckpoint(output_dir)])
    trainer.fit(fitter, loader, ckpt_path=last_checkpoint(output_dir))
    extra = {"scale_mat": scene.scale_mat}
    if fitter.pose_correction is not None:
        extra["pose_correction"] = fitter.pose_correction.detach()
        extra["log_focal_correction"] = fitter.log_focal_correction.detach()
    save_model(final, cfg, fitter.model, extra)
    return fitter.model


def fit_multineus(
    cfg: MultiNeuSConfig, meta_model: MultiNeuS, scene: Scene, output_dir: Path
) -> tuple[MultiNeuS, list[float]]:
    """Stage 1 (scene layers only) then stage 2 (all layers, lower lr) on the views of ``scene``."""
    output_dir = Path(output_dir)
    weights = aggregation_weights(cfg, meta_model, scene)
    log.info("aggregation weights over training scenes: %s", [round(w, 3) for w in weights.tolist()])
    model = initial_scene_model(cfg, meta_model, weights)
    model = _run_stage(cfg, model, scene, "scene", cfg.fit.stage1_steps, output_dir / "stage1")
    if cfg.fit.stage2_steps > 0:
        model = _run_stage(cfg, model, scene, "all", cfg.fit.stage2_steps, output_dir / "stage2")
    return model, weights.tolist()


def fit_scratch(cfg: MultiNeuSConfig, scene: Scene, output_dir: Path) -> MultiNeuS:
    """Plain NeuS (rank 0, one scene = an ordinary MLP) with the same number of iterations as both stages."""
    seed_everything(cfg.seed)
    model = MultiNeuS(cfg, 1, rank=0)
    steps = cfg.fit.stage1_steps + cfg.fit.stage2_steps
    return _run_stage(cfg, model, scene, "scratch", steps, Path(output_dir))
