"""Training of Mobile Parsing R-CNN (any variant) on DensePose-COCO or the built-in synthetic people."""

from __future__ import annotations

import logging
import pathlib

from shared_utils.config import config_to_dict
from shared_utils.errors import InputError
from shared_utils.run import RunDir
from shared_utils.runtime import seed_everything, use_threads
from shared_utils.training import build_trainer

from .config import Config
from .data import dataset_folder
from .data.densepose_coco import DensePoseDataset, UVSymmetry, load_records
from .lightning import DensePoseDataModule, DensePoseModule

log = logging.getLogger(__name__)


def symmetry_for(cfg: Config) -> UVSymmetry:
    if cfg.data.dataset == "synthetic":
        return UVSymmetry.synthetic()
    if cfg.data.uv_symmetry_file is None:
        raise InputError("data.uv_symmetry_file must name DensePose's UV_symmetry_transforms.mat for flip augmentation")
    return UVSymmetry.from_mat(cfg.data.uv_symmetry_file)


def train_dataset(cfg: Config) -> DensePoseDataset:
    folder = dataset_folder(cfg)
    records = load_records(folder / cfg.data.train_json, folder / cfg.data.train_images)
    if not records:
        raise InputError(f"no training image with a usable person annotation in '{folder / cfg.data.train_json}'")
    symmetry = symmetry_for(cfg) if cfg.data.flip_prob > 0 else None
    return DensePoseDataset(records, cfg.data.min_size_train, cfg.data.max_size_train, cfg.data.flip_prob, symmetry,
                            seed=cfg.seed)


def train(cfg: Config, run_dir) -> pathlib.Path:
    """Train into ``run_dir`` (resuming from its ``last.ckpt``) and return the run folder."""
    run = RunDir(run_dir).create()
    seed_everything(cfg.seed)
    use_threads(cfg.num_threads)
    data = DensePoseDataModule(cfg, train_dataset(cfg))
    run.save_config(cfg)
    module = DensePoseModule(config_to_dict(cfg))
    trainer = build_trainer(cfg.trainer, run.path)
    resume = run.resume_checkpoint()
    if resume is not None:
        log.info("resuming from %s", resume)
    trainer.fit(module, datamodule=data, ckpt_path=resume)
    # the state at the end of fit (also when an opt-in time limit stopped it between periodic saves) is what
    # eval reads
    trainer.save_checkpoint(run.last_checkpoint)
    return run.path
