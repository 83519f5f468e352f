"""LightningModule of the DEF patch estimator (histogram loss or plain regression)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from shared_utils.config import config_to_dict, load_config
from shared_utils.errors import InputError
from shared_utils.io import load_checkpoint

from def_sharp.config import DEFConfig
from def_sharp.losses.histogram import HistogramSpec, expected_distance, histogram_loss, regression_loss
from def_sharp.metrics import per_patch_statistics, summarise_patches
from def_sharp.models.unet import ResNetUNet


def histogram_spec(cfg: DEFConfig) -> HistogramSpec:
    return HistogramSpec(cfg.model.n_bins, cfg.model.margin_bins, cfg.data.scan.truncation, cfg.model.sigma_bins)


class DEFModule(L.LightningModule):
    def __init__(self, config: dict, input_scale: float):
        """config: the plain-dict DEFConfig (kept in the checkpoint); input_scale: depth normaliser of the inputs."""
        super().__init__()
        self.save_hyperparameters()
        self.cfg = load_config(DEFConfig, config)
        self.input_scale = float(input_scale)
        self.spec = histogram_spec(self.cfg)
        model = self.cfg.model
        out_channels = self.spec.n_outputs if model.loss == "histogram" else 1
        self.net = ResNetUNet(model.encoder_blocks, model.block, model.base_width, model.decoder_widths,
                              out_channels, model.negative_slope, model.head_kernel)
        self._val_parts: list[dict] = []

    @classmethod
    def from_config(cls, cfg: DEFConfig, input_scale: float) -> DEFModule:
        return cls(config_to_dict(cfg), input_scale)

    @classmethod
    def from_checkpoint(cls, path, device: torch.device | str = "cpu") -> DEFModule:
        """The trained module of a checkpoint written by `train`, in eval mode (read with the checked loader)."""
        checkpoint = load_checkpoint(path, map_location=device)
        hparams = checkpoint.get("hyper_parameters")
        if not isinstance(hparams, dict) or "config" not in hparams or "state_dict" not in checkpoint:
            raise InputError(f"checkpoint '{path}' was not written by def-sharp (no DEF config inside)")
        module = cls(hparams["config"], hparams["input_scale"])
        try:
            module.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0]
            raise InputError(f"checkpoint '{path}' does not match the network of its own config ({reason})") from exc
        return module.to(device).eval()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def predict_distance(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised inputs -> (B, H, W) distances in [0, truncation]."""
        output = self.net(inputs)
        if self.cfg.model.loss == "histogram":
            return expected_distance(output, self.spec, dim=1)
        return output[:, 0].clamp(0.0, self.spec.truncation)

    def _loss(self, output: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.cfg.model.loss == "histogram":
            return histogram_loss(output, batch["distance"], batch["mask"], self.spec)
        return regression_loss(output[:, 0], batch["distance"], batch["mask"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(self.net(batch["input"]), batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        output = self.net(batch["input"])
        self.log("val/loss", self._loss(output, batch), batch_size=len(batch["input"]), sync_dist=True)
        if self.cfg.model.loss == "histogram":
            prediction = expected_distance(output, self.spec, dim=1)
        else:
            prediction = output[:, 0].clamp(0.0, self.spec.truncation)
        self._val_parts.append(per_patch_statistics(prediction.detach().float().cpu().numpy(),
                                                    batch["distance"].cpu().numpy(), batch["mask"].cpu().numpy(),
                                                    self.cfg.eval.threshold))

    def on_validation_epoch_end(self) -> None:
        if not self._val_parts:
            return
        stats = {key: np.concatenate([part[key] for part in self._val_parts]) for key in self._val_parts[0]}
        self._val_parts.clear()
        summary = summarise_patches(stats)
        # Per-rank summaries averaged across ranks under DDP (each rank sees a similar share of patches).
        for key, value in summary.items():
            self.log(f"val/{key}", float(np.nan_to_num(value)), sync_dist=True)

    def configure_optimizers(self):
        optim = self.cfg.optim
        optimizer = torch.optim.Adam(self.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=optim.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
