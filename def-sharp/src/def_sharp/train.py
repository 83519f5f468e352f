"""Training entry point: data set (generated once) -> Lightning fit with checkpoints and resume."""

from __future__ import annotations

from pathlib import Path

from shared_utils.config import save_config
from shared_utils.runtime import seed_everything
from shared_utils.training import build_trainer, last_checkpoint

from def_sharp.config import DEFConfig
from def_sharp.data.defsim import ensure_dataset
from def_sharp.data.patches import PatchDataModule, resolve_input_scale
from def_sharp.lightning import DEFModule

MONITOR = "val/rmse"


def train(cfg: DEFConfig, output_dir: str | Path, progress: bool = True) -> bool:
    """Train (or resume from output_dir/checkpoints/last.ckpt). Returns whether this process is the global rank
    zero (under DDP every rank runs this function; only rank zero should evaluate and write reports)."""
    output_dir = Path(output_dir)
    seed_everything(cfg.seed)
    data_dir = ensure_dataset(cfg.data, progress=progress)
    input_scale = resolve_input_scale(cfg.data, data_dir)
    save_config(cfg, output_dir / "config.yaml")
    module = DEFModule.from_config(cfg, input_scale)
    datamodule = PatchDataModule(cfg.data, data_dir, cfg.optim.batch_size, input_scale, seed=cfg.seed)
    trainer = build_trainer(cfg.trainer, output_dir, monitor=MONITOR, mode="min")
    trainer.fit(module, datamodule, ckpt_path=last_checkpoint(output_dir))
    return trainer.is_global_zero


def best_checkpoint(run_dir: str | Path) -> Path:
    """The best-by-validation checkpoint of a run, else last.ckpt."""
    folder = Path(run_dir) / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
    if best:
        return best[-1]
    last = last_checkpoint(run_dir)
    if last is None:
        raise FileNotFoundError(f"no checkpoint in '{folder}'; train the run first")
    return last
