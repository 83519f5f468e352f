"""Training entry point: data set (generated once) -> Lightning fit with checkpoints and resume."""

from __future__ import annotations

import warnings
from pathlib import Path

from shared_utils.run import RunDir
from shared_utils.runtime import seed_everything, use_threads
from shared_utils.training import build_trainer

from def_sharp.config import DEFConfig
from def_sharp.data.defsim import ensure_dataset
from def_sharp.data.patches import PatchDataModule, resolve_input_scale
from def_sharp.lightning import DEFModule

MONITOR = "val/rmse"

# Lightning warns when it resumes inside an epoch from a loader without saved state; the training stream is a
# function of the restored step (data/patches.py TrainingStream), so the resumed batches are the uninterrupted ones.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")


def train(cfg: DEFConfig, run_dir: str | Path) -> Path:
    """Train into `run_dir` (resuming from its checkpoints/last.ckpt when an earlier run was interrupted); returns
    the run folder."""
    run = RunDir(run_dir).create()
    seed_everything(cfg.seed)
    use_threads(cfg.num_threads)
    data_dir = ensure_dataset(cfg.data)
    input_scale = resolve_input_scale(cfg.data, data_dir)
    run.save_config(cfg)
    module = DEFModule.from_config(cfg, input_scale)
    datamodule = PatchDataModule(cfg.data, data_dir, cfg.optim.batch_size, input_scale, seed=cfg.seed)
    trainer = build_trainer(cfg.trainer, run.path, monitor=MONITOR, mode="min")
    trainer.fit(module, datamodule, ckpt_path=run.resume_checkpoint())
    # The periodic last.ckpt misses the final steps when max_steps is not a multiple of its interval, or when the
    # opt-in time limit stopped training: save the final state, so that last.ckpt holds the steps actually run and
    # a rerun continues from where this one ended.
    trainer.save_checkpoint(run.last_checkpoint)
    return run.path
