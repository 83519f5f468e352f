"""Lightning training of NPBG++ over many scenes."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from shared_utils.config import config_to_dict, load_config, save_config
from shared_utils.io import atomic_torch_save
from shared_utils.metrics import psnr
from shared_utils.runtime import seed_everything
from shared_utils.training import build_trainer, last_checkpoint
from shared_utils.weights import load_state_dict_file, load_weights_strict

from npbgpp.config import NPBGPPConfig
from npbgpp.losses import NPBGPPLoss
from npbgpp.models.npbgpp import NPBGPP
from npbgpp.scenes.datamodule import NPBGPPDataModule
from npbgpp.scenes.datasets import load_scenes, scene_names

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"


class NPBGPPModule(L.LightningModule):
    def __init__(self, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = load_config(NPBGPPConfig, config)
        self.model = NPBGPP(self.cfg)
        # Kept out of the module tree so that checkpoints never hold (or require) the VGG-19 weights.
        self.__dict__["criterion"] = NPBGPPLoss(self.cfg.loss)

    def on_fit_start(self) -> None:
        self.criterion.to(self.device)
        log.info("perceptual term: %s", self.criterion.perceptual_mode)

    def sample_losses(self, sample: dict) -> dict[str, torch.Tensor]:
        device = self.device
        points = sample["points"].to(device)
        views = zip(sample["input_images"].to(device), sample["input_intrinsics"].to(device),
                    sample["input_w2c"].to(device), strict=True)
        scene = self.model.aggregate(views, points)
        target = sample["target_image"].to(device)
        prediction = self.model.render(scene, sample["target_intrinsics"][None].to(device),
                                       sample["target_w2c"][None].to(device), *target.shape[-2:])
        terms = self.criterion.image_terms(prediction, target[None])
        if self.cfg.loss.regularization_weight > 0:
            full = sample["target_full"].to(device)
            own = self.model.render_self_supervised(points, full, sample["target_full_intrinsics"].to(device),
                                                    sample["target_w2c"].to(device))
            terms["regularization"] = self.criterion.regularization(own[None], full[None])
        return terms

    def training_step(self, batch: list[dict], batch_idx: int) -> torch.Tensor:
        totals: dict[str, torch.Tensor] = {}
        for sample in batch:
            for name, value in self.sample_losses(sample).items():
                totals[name] = totals.get(name, 0.0) + value / len(batch)
        loss = sum(totals.values())
        for name, value in totals.items():
            self.log(f"train/{name}", value, batch_size=len(batch))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        return loss

    def validation_step(self, batch: list[dict], batch_idx: int) -> None:
        for sample in batch:
            device = self.device
            views = zip(sample["input_images"].to(device), sample["input_intrinsics"].to(device),
                        sample["input_w2c"].to(device), strict=True)
            scene = self.model.aggregate(views, sample["points"].to(device))
            target = sample["target_image"].to(device)
            prediction = self.model.render(scene, sample["target_intrinsics"][None].to(device),
                                           sample["target_w2c"][None].to(device), *target.shape[-2:])
            value = psnr(prediction.clamp(0, 1), target[None], crop_border=self.cfg.eval.crop_border).mean()
            self.log("val/psnr", value, batch_size=1, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=self.cfg.train.lr)


def train(cfg: NPBGPPConfig, output_dir: Path) -> Path:
    """Train (or resume from last.ckpt) and write ``model.pt`` + ``config.yaml``; returns the model path."""
    output_dir = Path(output_dir)
    seed_everything(cfg.seed)
    train_names, _ = scene_names(cfg)
    scenes = load_scenes(cfg, train_names)
    log.info("training on %d scenes: %s", len(scenes), ", ".join(train_names))
    save_config(cfg, output_dir / CONFIG_FILE)
    module = NPBGPPModule(config_to_dict(cfg))
    trainer = build_trainer(cfg.train.trainer, output_dir, monitor="val/psnr", mode="max")
    trainer.fit(module, NPBGPPDataModule(scenes, cfg), ckpt_path=last_checkpoint(output_dir))
    model_path = output_dir / MODEL_FILE
    if trainer.is_global_zero:
        atomic_torch_save({"state_dict": module.model.state_dict(), "step": trainer.global_step}, model_path)
    return model_path


def load_trained_model(run_dir: Path, cfg: NPBGPPConfig | None = None) -> tuple[NPBGPPConfig, NPBGPP]:
    """The config saved with a run (unless given) and its trained weights, loaded strictly."""
    run_dir = Path(run_dir)
    if cfg is None:
        cfg = load_config(NPBGPPConfig, run_dir / CONFIG_FILE)
    model = NPBGPP(cfg)
    load_weights_strict(model, load_state_dict_file(run_dir / MODEL_FILE, key="state_dict"))
    return cfg, model.eval()
