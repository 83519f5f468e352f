"""Training of NPBG++ over many scenes (Lightning); the trained weights of a run folder."""

from __future__ import annotations

import logging
from pathlib import Path

from shared_utils.config import config_to_dict
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save, load_checkpoint
from shared_utils.run import RunDir
from shared_utils.runtime import seed_everything, use_threads
from shared_utils.training import build_trainer, time_limit_reached
from shared_utils.weights import load_weights_strict

from npbgpp.config import NPBGPPConfig
from npbgpp.data.datamodule import NPBGPPDataModule
from npbgpp.data.datasets import load_scenes, scene_names
from npbgpp.lightning import NPBGPPModule
from npbgpp.models.npbgpp import NPBGPP

log = logging.getLogger(__name__)

# The finished model (weights, steps run, whether a time limit stopped training): what eval, build, render and
# finetune read, so that they need neither Lightning's checkpoint layout nor the optimizer state.
MODEL_FILE = "model.pt"


def model_path(run: RunDir) -> Path:
    return run / MODEL_FILE


def trained_steps(run: RunDir) -> int:
    """Steps of the finished model of a run, -1 when training has not finished."""
    path = model_path(run)
    return int(load_checkpoint(path, weights_only=True).get("step", 0)) if path.is_file() else -1


def train(cfg: NPBGPPConfig, run_dir) -> Path:
    """Train (resuming from last.ckpt when an interrupted run left one) and write ``model.pt``; returns the run
    folder."""
    run = RunDir(run_dir).create()
    seed_everything(cfg.seed)
    use_threads(cfg.num_threads)
    train_names, _ = scene_names(cfg)
    scenes = load_scenes(cfg, train_names)
    log.info("training on %d scenes: %s", len(scenes), ", ".join(train_names))
    run.save_config(cfg)
    module = NPBGPPModule(config_to_dict(cfg))
    trainer = build_trainer(cfg.trainer, run.path, monitor="val/psnr", mode="max")
    resume = run.resume_checkpoint()
    if resume is not None:
        load_checkpoint(resume)  # a truncated last.ckpt is one clear error, not an unpickling traceback
        log.info("resuming from %s", resume)
    trainer.fit(module, NPBGPPDataModule(scenes, cfg), ckpt_path=resume)
    if trainer.is_global_zero:
        atomic_torch_save({"state_dict": module.model.state_dict(), "step": trainer.global_step,
                           "time_limit_reached": time_limit_reached(trainer, cfg.trainer)}, model_path(run))
    return run.path


def load_trained_model(run: RunDir, cfg: NPBGPPConfig) -> NPBGPP:
    """The run's trained weights in a model built from ``cfg``, loaded strictly."""
    path = model_path(run)
    if not path.is_file():
        raise InputError(f"run folder '{run.path}' has no trained model ({MODEL_FILE}): train it first")
    model = NPBGPP(cfg)
    load_weights_strict(model, load_checkpoint(path, weights_only=True).get("state_dict", {}))
    return model.eval()

