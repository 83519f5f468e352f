"""Training: meta-learning over the training scenes, then fitting every held-out head from single views.

Run folder of ``train(cfg, run_dir)`` (every stage is its own ``RunDir`` with ``checkpoints/last.ckpt`` and logs):

    config.yaml, training.json              the config; steps, wall time and time-limit flag of the last training
    meta/model.pt, meta/extras.json         the meta-learned model; mean intrinsics and 3-D landmarks for photos
    fit/<scene>/<F|L|R>/multineus/stage1|stage2/model.pt    Multi-NeuS fits from the frontal / left / right view
    fit/<scene>/<F|L|R>/scratch/model.pt                    NeuS from scratch, same views and iterations
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save, load_checkpoint, load_json, save_json
from shared_utils.run import RunClock, RunDir
from shared_utils.runtime import seed_everything, use_threads
from shared_utils.training import TrainerConfig, build_trainer, time_limit_reached
from shared_utils.weights import load_weights_strict

from .config import MultiNeuSConfig, config_as_dict, config_from_dict
from .data.generate import prepare_data
from .data.rays import MultiSceneRayBatches, SceneRays
from .data.scene import Scene, load_split
from .geometry.rays import camera_rays
from .lightning import MetaLearner, SceneFitter
from .losses import neus_loss
from .models.multi_neus import MultiNeuS
from .models.renderer import render_rays

log = logging.getLogger(__name__)
MODEL_FILE = "model.pt"
EXTRAS_FILE = "extras.json"
TRAINING_RECORD = "training.json"
METHODS = ("multineus", "scratch")


@dataclasses.dataclass
class StageResult:
    """A trained stage: its model, the steps it ran, whether a time limit cut it, and its camera corrections."""

    model: MultiNeuS
    steps: int
    time_limited: bool
    corrections: tuple[torch.Tensor, torch.Tensor] | None = None


def protocol_views(cfg: MultiNeuSConfig) -> dict[str, int]:
    """The single input views of thesis Table 7: frontal, left, right."""
    return {"F": cfg.eval.frontal_view, "L": cfg.eval.left_view, "R": cfg.eval.right_view}


def fit_folder(run_dir, scene: str, view_label: str, method: str) -> Path:
    return Path(run_dir) / "fit" / scene / view_label / method


def save_model(path: Path, cfg: MultiNeuSConfig, stage: StageResult, extra: dict | None = None) -> None:
    payload = {"config": config_as_dict(cfg), "num_scenes": stage.model.num_scenes, "rank": stage.model.rank,
               "state_dict": stage.model.state_dict(), "steps": stage.steps, "time_limited": stage.time_limited,
               **(extra or {})}
    if stage.corrections is not None:
        payload["pose_correction"], payload["log_focal_correction"] = stage.corrections
    atomic_torch_save(payload, path)


def load_model(path: Path) -> tuple[MultiNeuSConfig, MultiNeuS, dict]:
    """A ``model.pt`` written by train/fit: its config, the model and the whole payload."""
    payload = load_checkpoint(path)
    missing = [key for key in ("config", "num_scenes", "rank", "state_dict") if key not in payload]
    if missing:
        raise InputError(f"model file '{path}' is not a Multi-NeuS model (it lacks {', '.join(missing)})")
    cfg = config_from_dict(payload["config"])
    model = MultiNeuS(cfg, payload["num_scenes"], payload["rank"])
    load_weights_strict(model, payload["state_dict"])
    return cfg, model, payload


def _stage_result(path: Path) -> StageResult:
    _, model, payload = load_model(path)
    corrections = None
    if "pose_correction" in payload:
        corrections = (payload["pose_correction"], payload["log_focal_correction"])
    return StageResult(model, int(payload.get("steps", 0)), bool(payload.get("time_limited", False)), corrections)


def _batches(scenes: list[Scene], num_rays: int, max_images: int, seed: int, cfg: MultiNeuSConfig):
    return MultiSceneRayBatches([SceneRays(s) for s in scenes], num_rays, max_images, seed,
                                cfg.meta.batches_per_epoch)


def meta_learn(cfg: MultiNeuSConfig, scenes: list[Scene], stage_dir: Path) -> StageResult:
    """Meta-learning over ``scenes``; resumes from the stage's ``last.ckpt``; writes ``model.pt``."""
    stage = RunDir(stage_dir).create()
    final = stage / MODEL_FILE
    if final.exists():
        log.info("meta-learning already finished: %s", final)
        return _stage_result(final)
    # Seeded here, not only at the start of the command: generating the data (or finding it) must not change the
    # initial weights.
    seed_everything(cfg.seed)
    module = MetaLearner(cfg, [s.name for s in scenes])
    batches = _batches(scenes, cfg.meta.batch_rays, cfg.meta.images_per_batch, cfg.seed, cfg)
    trainer = build_trainer(cfg.meta.trainer, stage.path)
    trainer.fit(module, batches, ckpt_path=stage.resume_checkpoint())
    result = StageResult(module.model, trainer.global_step, time_limit_reached(trainer, cfg.meta.trainer))
    if trainer.is_global_zero:
        save_model(final, cfg, result, {"scene_names": module.scene_names})
    return result


def fit_trainer_config(cfg: MultiNeuSConfig, steps: int) -> TrainerConfig:
    """The meta-learning trainer settings for one fitting stage: its own length, one device."""
    return dataclasses.replace(cfg.meta.trainer, max_steps=steps, devices=1, strategy="auto",
                               log_every_n_steps=cfg.fit.log_every_n_steps)


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


def run_stage(cfg: MultiNeuSConfig, model: MultiNeuS, scene: Scene, mode: str, steps: int, stage_dir: Path,
              initial_corrections=None) -> StageResult:
    """One fitting stage (resumable; reused when its ``model.pt`` exists)."""
    stage = RunDir(stage_dir).create()
    final = stage / MODEL_FILE
    if final.exists():
        return _stage_result(final)
    fitter = SceneFitter(cfg, model, mode, scene.num_views, steps, initial_corrections)
    batches = _batches([scene], cfg.fit.batch_rays, scene.num_views, cfg.seed + 17, cfg)
    trainer_cfg = fit_trainer_config(cfg, steps)
    trainer = build_trainer(trainer_cfg, stage.path)
    trainer.fit(fitter, batches, ckpt_path=stage.resume_checkpoint())
    result = StageResult(fitter.model, trainer.global_step, time_limit_reached(trainer, trainer_cfg),
                         fitter.corrections())
    save_model(final, cfg, result, {"scale_mat": scene.scale_mat})
    return result


def fit_multineus(cfg: MultiNeuSConfig, meta_model: MultiNeuS, scene: Scene, output_dir: Path
                  ) -> tuple[list[StageResult], list[float]]:
    """Stage 1 (scene layers only) then stage 2 (all layers, lower lr) on the views of ``scene``; the camera
    corrections learned in stage 1 are where stage 2 starts."""
    output_dir = Path(output_dir)
    weights = aggregation_weights(cfg, meta_model, scene)
    log.info("aggregation weights over training scenes: %s", [round(w, 3) for w in weights.tolist()])
    save_json({"weights": weights.tolist()}, output_dir / "aggregation.json")
    model = initial_scene_model(cfg, meta_model, weights)
    stages = [run_stage(cfg, model, scene, "scene", cfg.fit.stage1_steps, output_dir / "stage1")]
    if cfg.fit.stage2_steps > 0:
        stages.append(run_stage(cfg, stages[0].model, scene, "all", cfg.fit.stage2_steps, output_dir / "stage2",
                                stages[0].corrections))
    return stages, weights.tolist()


def fit_scratch(cfg: MultiNeuSConfig, scene: Scene, output_dir: Path) -> StageResult:
    """Plain NeuS (rank 0, one scene = an ordinary MLP) with the same number of iterations as both stages."""
    seed_everything(cfg.seed)
    model = MultiNeuS(cfg, 1, rank=0)
    steps = cfg.fit.stage1_steps + cfg.fit.stage2_steps
    return run_stage(cfg, model, scene, "scratch", steps, Path(output_dir))


def meta_model_extras(scenes: list[Scene]) -> dict:
    """What fitting an in-the-wild photo needs from the training set: mean intrinsics and 3-D landmarks."""
    extras = {
        "mean_intrinsics": np.mean([s.intrinsics.mean(0) for s in scenes], 0),
        "image_size": scenes[0].image_size,
        "scale_mat": scenes[0].scale_mat,
    }
    if all(s.landmarks is not None for s in scenes):
        extras["reference_landmarks"] = np.mean([s.landmarks for s in scenes], 0)
    return extras


def read_training_record(run_dir) -> dict:
    path = Path(run_dir) / TRAINING_RECORD
    return load_json(path) if path.is_file() else {"steps": {}, "wall_time_s": 0.0, "time_limit_reached": False}


def train(cfg: MultiNeuSConfig, run_dir) -> Path:
    """Meta-learn on the training heads, then fit every held-out head from its frontal, left and right view alone
    (Multi-NeuS and NeuS from scratch). Finished stages are reused; interrupted ones resume from ``last.ckpt``."""
    clock = RunClock()
    run = RunDir(run_dir).create()
    run.save_config(cfg)
    seed_everything(cfg.seed)
    use_threads(cfg.num_threads)
    root = prepare_data(cfg)
    train_scenes = load_split(root, "train", cfg.data.downscale)
    meta = meta_learn(cfg, train_scenes, run / "meta")
    if rank_zero_only.rank != 0:
        # Under DDP the other ranks only helped meta-learning; fitting runs once, on rank 0.
        return run.path
    save_json({k: np.asarray(v) for k, v in meta_model_extras(train_scenes).items()}, run / "meta" / EXTRAS_FILE)
    steps = {"meta": meta.steps, "fit_stage1": 0, "fit_stage2": 0, "scratch": 0}
    limited = meta.time_limited
    for scene in load_split(root, "test", cfg.data.downscale):
        for label, view in protocol_views(cfg).items():
            inputs = scene.subset([view])
            stages, _ = fit_multineus(cfg, meta.model, inputs, fit_folder(run.path, scene.name, label, "multineus"))
            scratch = fit_scratch(cfg, inputs, fit_folder(run.path, scene.name, label, "scratch"))
            for name, stage in zip(("fit_stage1", "fit_stage2"), stages, strict=False):
                steps[name] += stage.steps
            steps["scratch"] += scratch.steps
            limited = limited or scratch.time_limited or any(s.time_limited for s in stages)
    save_json({"steps": steps, "wall_time_s": clock.seconds(), "time_limit_reached": limited},
              run / TRAINING_RECORD)
    return run.path
