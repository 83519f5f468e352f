"""The LightningModule and LightningDataModule of Mobile Parsing R-CNN, and reading a trained checkpoint back."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import lightning as L
import numpy as np
import torch
from shared_utils.config import ConfigError, load_config
from shared_utils.errors import InputError
from shared_utils.io import load_checkpoint

from .config import Config
from .data.densepose_coco import DensePoseDataset, collate
from .models.detector import build_model


def lr_factor(step: int, cfg: Config) -> float:
    """detectron2 WarmupMultiStepLR: linear warm-up from ``warmup_factor`` then x ``gamma`` at each step."""
    o = cfg.optim
    factor = 1.0
    if step < o.warmup_iters:
        alpha = step / max(o.warmup_iters, 1)
        factor = o.warmup_factor * (1 - alpha) + alpha
    milestones = [int(s * cfg.trainer.max_steps) for s in o.steps]
    return factor * o.gamma ** sum(step >= m for m in milestones)


def step_seed(seed: int, step: int) -> int:
    """Seed of the random draws of one training step (proposal sampling, DensePose RoIs): a function of the config's
    seed and the step only, so that a run resumed from a checkpoint draws what an uninterrupted run draws."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


class DensePoseModule(L.LightningModule):
    """Mobile Parsing R-CNN (any variant) with detectron2's WarmupMultiStepLR schedule."""

    def __init__(self, config: dict):
        super().__init__()
        # the config travels as a plain dict in the checkpoint's hyper-parameters, so a checkpoint alone rebuilds it
        self.save_hyperparameters({"config": config})
        self.cfg = load_config(Config, config)
        self.model = build_model(self.cfg.model, self.cfg.loss)

    def forward(self, images, targets=None):
        return self.model(images, targets)

    def on_train_batch_start(self, batch, batch_idx):
        torch.manual_seed(step_seed(self.cfg.seed, self.global_step))

    def training_step(self, batch, batch_idx):
        images, targets = batch
        losses = self.model(images, targets)
        total = sum(losses.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}: "
                                     + ", ".join(f"{k}={float(v):.3g}" for k, v in losses.items()))
        bs = len(images)
        self.log("train/loss", total, prog_bar=True, batch_size=bs)
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


class StepBatchSampler(torch.utils.data.Sampler):
    """Endless batches of ``(index, step)`` keys; the batch of step ``s`` depends on ``(seed, s)`` only.

    Epoch ``e`` visits the items in the permutation drawn from ``(seed, e)``. Iteration starts at ``start_step()``,
    read when the loader is iterated, i.e. after Lightning restored a checkpoint's step counter.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start_step: Callable[[], int]):
        if num_items < batch_size:
            raise InputError(f"the training set has {num_items} usable images, fewer than data.batch_size = "
                             f"{batch_size}")
        self.num_items, self.batch_size, self.seed, self.start_step = num_items, batch_size, seed, start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = self.num_items // self.batch_size  # the last incomplete batch is dropped, as drop_last=True
        step = self.start_step()
        while True:
            epoch, position = divmod(step, per_epoch)
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_items)
            chosen = order[position * self.batch_size:(position + 1) * self.batch_size]
            yield [(int(i), step) for i in chosen]
            step += 1


class DensePoseDataModule(L.LightningDataModule):
    def __init__(self, cfg: Config, dataset: DensePoseDataset):
        super().__init__()
        self.cfg, self.dataset = cfg, dataset

    def train_dataloader(self):
        sampler = StepBatchSampler(len(self.dataset), self.cfg.data.batch_size, self.cfg.seed,
                                   lambda: self.trainer.global_step)
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.cfg.data.num_workers,
                                           collate_fn=collate, persistent_workers=self.cfg.data.num_workers > 0)


def load_trained(checkpoint, map_location="cpu") -> DensePoseModule:
    """The module of a checkpoint written by ``train``, in eval mode, with ``trained_steps`` (its optimizer steps);
    one ``InputError`` for any unusable file."""
    path = pathlib.Path(checkpoint)
    data = load_checkpoint(path, map_location=map_location)
    config = data.get("hyper_parameters", {}).get("config")
    if not isinstance(config, dict) or "state_dict" not in data:
        raise InputError(f"checkpoint '{path}' was not written by mprcnn train (no config or state_dict)")
    try:
        module = DensePoseModule(config)
    except ConfigError as exc:
        raise InputError(f"checkpoint '{path}' holds a config this version cannot read: {exc}") from exc
    try:
        module.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(f"checkpoint '{path}' does not fit the model of its own config ({first})") from exc
    module.trained_steps = int(data.get("global_step", 0))
    return module.eval()
