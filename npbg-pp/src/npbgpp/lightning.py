"""Every LightningModule of NPBG++: training over many scenes, and per-scene fitting (ft, ft-system, baseline)."""

from __future__ import annotations

import copy
import logging
from typing import Literal

import lightning as L
import torch
from shared_utils.config import load_config
from shared_utils.metrics import psnr
from torch import nn

from npbgpp.config import NPBGPPConfig
from npbgpp.data.scene import SceneData
from npbgpp.data.views import select_input_views
from npbgpp.losses import NPBGPPLoss
from npbgpp.models.npbgpp import NPBGPP, PointDescriptors

log = logging.getLogger(__name__)

FitMode = Literal["ft", "ft-system", "baseline"]


@torch.no_grad()
def render_views(render_fn, scene: SceneData, indices, batch: int = 4) -> torch.Tensor:
    """(F, 3, H, W) renders clamped to [0, 1]; ``render_fn(intrinsics, w2c, height, width)``."""
    outputs = []
    for chunk in torch.as_tensor(indices).split(batch):
        outputs.append(render_fn(scene.intrinsics[chunk], scene.w2c[chunk], scene.height, scene.width).clamp(0, 1))
    return torch.cat(outputs)


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

    def drop_generator(self, sample_index: int) -> torch.Generator:
        """The pixel drop of the regularisation is a function of (seed, step, sample), not of a global random
        stream: a run resumed from last.ckpt draws what an uninterrupted one draws."""
        step = self.global_step * 7919 + self.global_rank * 257 + sample_index
        seed = (self.cfg.seed * 1_000_003 + step) % (2**63 - 1)
        return torch.Generator(device=self.device).manual_seed(seed)

    def sample_losses(self, sample: dict, sample_index: int = 0) -> dict[str, torch.Tensor]:
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
                                                    sample["target_w2c"].to(device), self.drop_generator(sample_index))
            terms["regularization"] = self.criterion.regularization(own[None], full[None])
        return terms

    def training_step(self, batch: list[dict], batch_idx: int) -> torch.Tensor:
        totals: dict[str, torch.Tensor] = {}
        for index, sample in enumerate(batch):
            for name, value in self.sample_losses(sample, index).items():
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



class SceneFitting(L.LightningModule):
    def __init__(self, model: NPBGPP, scene: SceneData, mode: FitMode, cfg: NPBGPPConfig,
                 descriptors: PointDescriptors | None = None) -> None:
        super().__init__()
        self.cfg, self.mode, self.scene = cfg, mode, scene
        self.model = copy.deepcopy(model)
        self.__dict__["criterion"] = NPBGPPLoss(cfg.loss)
        self.model.requires_grad_(False)
        self.model.refiner.requires_grad_(True)
        if mode == "baseline":
            if cfg.baseline.refiner_init == "random":
                self.model.refiner = type(self.model.refiner)(cfg.extractor.out_channels, cfg.render.refiner_channels)
            self.register_buffer("points", scene.points.clone())
            generator = torch.Generator().manual_seed(cfg.seed)
            self.free_descriptors = nn.Parameter(
                0.1 * torch.randn(scene.points.shape[0], cfg.extractor.out_channels, generator=generator)
            )
        elif mode == "ft":
            if descriptors is None:
                raise ValueError("ft needs the descriptors of the built scene")
            self.register_buffer("points", descriptors.points.detach().clone())
            self.beta = nn.Parameter(descriptors.beta.detach().clone())
            self.beta0 = nn.Parameter(descriptors.beta0.detach().clone())
        else:
            self.model.extractor.requires_grad_(True)
            self.model.basis.requires_grad_(True)
        self.centers = scene.camera_centers()
        self.scene_center = scene.points.mean(0)

    def on_fit_start(self) -> None:
        self.criterion.to(self.device)

    def current_descriptors(self, input_indices=None) -> PointDescriptors:
        if self.mode == "ft":
            return PointDescriptors(self.points, self.beta, self.beta0)
        indices = self.scene.input_indices.tolist() if input_indices is None else input_indices
        return self.model.aggregate(self.scene.views(indices, self.device), self.scene.points.to(self.device))

    def render(self, intrinsics, w2c, height, width, input_indices=None) -> torch.Tensor:
        intrinsics, w2c = intrinsics.to(self.device), w2c.to(self.device)
        if self.mode == "baseline":
            return self.model.render_with(lambda _: self.free_descriptors, self.points, intrinsics, w2c, height, width)
        return self.model.render(self.current_descriptors(input_indices), intrinsics, w2c, height, width)

    def training_step(self, view_ids: torch.Tensor, batch_idx: int) -> torch.Tensor:
        scene = self.scene
        inputs = None
        if self.mode == "ft-system":
            target = int(view_ids[0])
            others = scene.input_indices[scene.input_indices != target]
            inputs = select_input_views(self.centers, others, self.centers[target], self.scene_center,
                                        self.cfg.train.num_input_views, self.cfg.train.optimal_angle_deg,
                                        self.cfg.train.angle_sigma_deg, generator=torch.default_generator).tolist()
        prediction = self.render(scene.intrinsics[view_ids], scene.w2c[view_ids], scene.height, scene.width, inputs)
        terms = self.criterion.image_terms(prediction, scene.images[view_ids].to(self.device))
        loss = sum(terms.values())
        self.log("fit/loss", loss, batch_size=len(view_ids))
        return loss

    def configure_optimizers(self):
        if self.mode == "baseline":
            groups = [{"params": [self.free_descriptors], "lr": self.cfg.baseline.descriptor_lr},
                      {"params": self.model.refiner.parameters(), "lr": self.cfg.baseline.refiner_lr}]
        elif self.mode == "ft":
            groups = [{"params": [self.beta, self.beta0], "lr": self.cfg.finetune.descriptor_lr},
                      {"params": self.model.refiner.parameters(), "lr": self.cfg.finetune.lr}]
        else:
            groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": self.cfg.finetune.lr}]
        return torch.optim.Adam(groups)

    @torch.no_grad()
    def holdout_psnr(self) -> float:
        was_training = self.training
        self.eval()
        frames = self.scene.holdout_indices
        if self.mode == "ft-system":
            descriptors = self.current_descriptors()
            renders = render_views(lambda k, t, h, w: self.model.render(descriptors, k.to(self.device),
                                                                        t.to(self.device), h, w),
                                   self.scene, frames)
        else:
            renders = render_views(self.render, self.scene, frames)
        self.train(was_training)
        targets = self.scene.images[frames].to(renders.device)
        return float(psnr(renders, targets, crop_border=self.cfg.eval.crop_border).mean())
