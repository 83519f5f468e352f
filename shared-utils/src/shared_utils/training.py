"""Lightning plumbing shared by all members: trainer, loggers, checkpoints. No method logic."""

from __future__ import annotations

import datetime
import os
import pathlib
import sys
import time
from dataclasses import dataclass

import lightning
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .errors import InputError
from .io.atomic import atomic_torch_save
from .run import RunDir


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    max_epochs: int = -1
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    val_check_interval: int | float | None = None
    check_val_every_n_epoch: int | None = 1
    limit_val_batches: int | float = 1.0
    gradient_clip_val: float | None = None
    early_stopping_patience: int | None = None
    # Lightning's progress bar on a terminal, plain progress lines when output goes to a file or a pipe; both off
    # under CI=true, where they only fill the log.
    enable_progress_bar: bool = True
    num_sanity_val_steps: int = 0
    checkpoint_every_n_steps: int | None = 100
    # Opt-in wall-clock cap (None in every shipped config: a result must depend on config and seed only). A run
    # it stops reports ``time_limit_reached`` in its provenance and its pipeline exits non-zero.
    max_time_minutes: float | None = None
    deterministic: bool | str = "warn"


def progress_bar_enabled(requested: bool = True) -> bool:
    return requested and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer through a temporary file and a rename: a run killed while it saves keeps the
    previous complete ``last.ckpt`` instead of a truncated one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        atomic_torch_save(checkpoint, path)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class LineProgress(Callback):
    """Training progress as plain lines, for output that goes to a file or a pipe (where a redrawn bar shows
    nothing until the end): every ``lines``-th of the run, the step, the logged losses, the time spent and an
    estimate of the time left."""

    def __init__(self, lines: int = 20):
        self.lines = lines
        self._start = self._first_step = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._first_step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        step = trainer.global_step
        every = max(total // self.lines, 1)
        if not trainer.is_global_zero or step % every or step == self._first_step or total <= 0:
            return
        spent = time.perf_counter() - self._start
        left = spent / (step - self._first_step) * (total - step)
        losses = " ".join(f"{name} {float(value):.4g}" for name, value in sorted(trainer.callback_metrics.items())
                          if "loss" in name and value.numel() == 1)
        print(f"step {step}/{total} ({100 * step / total:.0f} %) {losses} [{_duration(spent)} spent, "
              f"~{_duration(left)} left]".replace("  ", " "), flush=True)


def time_limit_reached(trainer: lightning.Trainer, cfg: TrainerConfig) -> bool:
    """True when the opt-in ``max_time_minutes`` ended training before ``max_steps``."""
    return cfg.max_time_minutes is not None and 0 < cfg.max_steps and trainer.global_step < cfg.max_steps


def build_trainer(cfg: TrainerConfig, output_dir, monitor: str | None = None, mode: str = "min",
                  extra_callbacks=()) -> lightning.Trainer:
    """Trainer logging CSV and TensorBoard to ``output_dir/logs`` and checkpointing to ``output_dir/checkpoints``."""
    if mode not in ("min", "max"):
        raise InputError(f"checkpoint mode '{mode}' is invalid, expected 'min' or 'max'")
    if cfg.early_stopping_patience is not None and monitor is None:
        raise InputError("early_stopping_patience is set but no metric to monitor was given")
    run = RunDir(output_dir)
    output_dir = run.path
    logs = run.logs
    # Step-driven runs (max_steps, endless loaders) may never reach an epoch end, so last.ckpt is also written
    # every ``checkpoint_every_n_steps`` to keep an interrupted run resumable; "best" needs validation metrics.
    periodic = ModelCheckpoint(
        dirpath=run.checkpoints,
        save_top_k=0,
        save_last=True,
        every_n_train_steps=cfg.checkpoint_every_n_steps,
    )
    callbacks = [periodic, LearningRateMonitor(logging_interval="step"), *extra_callbacks]
    show_progress = progress_bar_enabled(cfg.enable_progress_bar)
    if show_progress and not sys.stdout.isatty():
        callbacks.append(LineProgress())
    if monitor is not None:
        callbacks.append(ModelCheckpoint(dirpath=run.checkpoints, filename="best-{step}",
                                         monitor=monitor, mode=mode, save_top_k=1))
    if cfg.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=cfg.early_stopping_patience))
    return lightning.Trainer(
        default_root_dir=output_dir,
        max_steps=cfg.max_steps,
        max_epochs=cfg.max_epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        precision=cfg.precision,
        log_every_n_steps=cfg.log_every_n_steps,
        val_check_interval=cfg.val_check_interval,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        limit_val_batches=cfg.limit_val_batches,
        gradient_clip_val=cfg.gradient_clip_val,
        enable_progress_bar=show_progress and sys.stdout.isatty(),
        max_time=None if cfg.max_time_minutes is None else datetime.timedelta(minutes=cfg.max_time_minutes),
        deterministic=cfg.deterministic,
        num_sanity_val_steps=cfg.num_sanity_val_steps,
        logger=[CSVLogger(logs, name="csv"), TensorBoardLogger(logs, name="tensorboard")],
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )


def last_checkpoint(output_dir) -> pathlib.Path | None:
    """``output_dir/checkpoints/last.ckpt`` when it exists, for ``trainer.fit(..., ckpt_path=...)``."""
    return RunDir(output_dir).resume_checkpoint()
