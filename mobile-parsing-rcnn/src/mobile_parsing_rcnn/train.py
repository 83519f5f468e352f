"""Lightning training of Mobile Parsing R-CNN (any variant) on DensePose-COCO or the built-in synthetic data."""

from __future__ import annotations

import logging
import os
import pathlib
from datetime import timedelta

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from shared_utils.config import config_to_dict, load_config, save_config
from shared_utils.errors import InputError
from shared_utils.runtime import seed_everything
from shared_utils.training import build_trainer, last_checkpoint

from .config import Config
from .datasets.densepose_coco import DensePoseDataset, UVSymmetry, collate, load_records
from .datasets.synthetic import ensure_synthetic_dataset
from .models.detector import build_model

log = logging.getLogger(__name__)


def data_root(cfg: Config) -> pathlib.Path:
    """``data.root``, else ``$THESIS_DATA_ROOT/mprcnn``, else ``data/mprcnn`` under the working directory."""
    if cfg.data.root:
        return pathlib.Path(cfg.data.root)
    env = os.environ.get("THESIS_DATA_ROOT")
    return pathlib.Path(env) / "mprcnn" if env else pathlib.Path("data") / "mprcnn"


def prepare_data(cfg: Config) -> pathlib.Path:
    root = data_root(cfg)
    if cfg.data.dataset == "synthetic":
        ensure_synthetic_dataset(root, cfg.synthetic)
    elif not root.is_dir():
        raise InputError(f"DensePose-COCO root '{root}' not found (set data.root)")
    return root


def symmetry_for(cfg: Config) -> UVSymmetry:
    if cfg.data.dataset == "synthetic":
        return UVSymmetry.synthetic()
    if cfg.data.uv_symmetry_file is None:
        raise InputError("data.uv_symmetry_file must name DensePose's UV_symmetry_transforms.mat for flip augmentation")
    return UVSymmetry.from_mat(cfg.data.uv_symmetry_file)


def train_dataset(cfg: Config) -> DensePoseDataset:
    root = prepare_data(cfg)
    records = load_records(root / cfg.data.train_json, root / cfg.data.train_images)
    if not records:
        raise InputError(f"no training image with a usable person annotation in '{root / cfg.data.train_json}'")
    symmetry = symmetry_for(cfg) if cfg.data.flip_prob > 0 else None
    return DensePoseDataset(records, cfg.data.min_size_train, cfg.data.max_size_train, cfg.data.flip_prob, symmetry,
                            seed=cfg.seed)


def lr_factor(step: int, cfg: Config) -> float:
    """detectron2 WarmupMultiStepLR: linear warm-up from ``warmup_factor`` then x ``gamma`` at each step."""
    o = cfg.optim
    factor = 1.0
    if step < o.warmup_iters:
        alpha = step / max(o.warmup_iters, 1)
        factor = o.warmup_factor * (1 - alpha) + alpha
    milestones = [int(s * cfg.trainer.max_steps) for s in o.steps]
    return factor * o.gamma ** sum(step >= m for m in milestones)


class DensePoseModule(L.LightningModule):
    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = load_config(Config, config)
        self.model = build_model(self.cfg.model, self.cfg.loss)

    def forward(self, images, targets=None):
        return self.model(images, targets)

    def training_step(self, batch, batch_idx):
        images, targets = batch
        losses = self.model(images, targets)
        total = sum(losses.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}: "
                                     + ", ".join(f"{k}={float(v):.3g}" for k, v in losses.items()))
        bs = len(images)
        self.log("train/loss", total, prog_bar=True, batch_size=bs, sync_dist=False)
        for key, value in losses.items():
            self.log(f"train/{key}", value, batch_size=bs)
        return total

    def configure_optimizers(self):
        o = self.cfg.optim
        lr = o.base_lr
        if o.scale_lr_with_batch:
            world = self.trainer.world_size if self.trainer is not None else 1
            lr = o.base_lr * self.cfg.data.batch_size * world / o.ims_per_batch_reference
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=o.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, self.cfg))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def train(cfg: Config, output_dir) -> pathlib.Path:
    """Train (resuming from ``output_dir/checkpoints/last.ckpt``) and return the last checkpoint's path."""
    output_dir = pathlib.Path(output_dir)
    seed_everything(cfg.seed)
    torch.set_num_threads(max(cfg.num_threads, 1))
    dataset = train_dataset(cfg)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.data.batch_size, shuffle=True,
                                         num_workers=cfg.data.num_workers, collate_fn=collate, drop_last=True,
                                         persistent_workers=cfg.data.num_workers > 0)
    save_config(cfg, output_dir / "config.yaml")
    module = DensePoseModule(config_to_dict(cfg))
    callbacks = [Timer(duration=timedelta(minutes=cfg.max_train_minutes))] if cfg.max_train_minutes else []
    trainer = build_trainer(cfg.trainer, output_dir, extra_callbacks=callbacks)
    resume = last_checkpoint(output_dir)
    if resume is not None:
        log.info("resuming from %s", resume)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=resume)
    last = output_dir / "checkpoints" / "last.ckpt"
    # the state at the end of fit (also when the time cap stopped it mid-epoch) is what eval reads
    trainer.save_checkpoint(last)
    return last


def load_trained(checkpoint, map_location="cpu") -> DensePoseModule:
    path = pathlib.Path(checkpoint)
    if not path.is_file():
        raise InputError(f"checkpoint '{path}' not found")
    try:
        module = DensePoseModule.load_from_checkpoint(path, map_location=map_location, weights_only=False)
    except (RuntimeError, KeyError, EOFError) as exc:
        raise InputError(f"checkpoint '{path}' could not be loaded ({type(exc).__name__})") from exc
    module.eval()
    return module
