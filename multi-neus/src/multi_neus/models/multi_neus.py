"""The Multi-NeuS model: NeuS networks shared across scenes except for low-rank scene-specific layers."""

from __future__ import annotations

import torch
from torch import nn

from ..config import MultiNeuSConfig
from .networks import BackgroundNeRF, ColorNetwork, SDFNetwork, SingleVariance


class MultiNeuS(nn.Module):
    def __init__(self, cfg: MultiNeuSConfig, num_scenes: int, rank: int | None = None):
        super().__init__()
        self.num_scenes = num_scenes
        self.rank = cfg.multi_scene.rank if rank is None else rank
        self.sdf_net = SDFNetwork(cfg.sdf, num_scenes, cfg.multi_scene.sdf_scene_layers, self.rank)
        self.color_net = ColorNetwork(
            cfg.color, cfg.sdf.feature_dim, num_scenes, cfg.multi_scene.color_scene_layers, self.rank
        )
        self.variance = SingleVariance(cfg.renderer.init_variance)
        # Each scene owns its background (the reference keeps per-scene outside models too).
        self.backgrounds = (
            nn.ModuleList([BackgroundNeRF() for _ in range(num_scenes)])
            if cfg.renderer.background == "nerf++"
            else None
        )

    def scene_parameters(self, scene: int) -> list[nn.Parameter]:
        params = self.sdf_net.scene_parameters(scene) + self.color_net.scene_parameters(scene)
        if self.backgrounds is not None:
            params += list(self.backgrounds[scene].parameters())
        return params

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.sdf_net.shared_parameters() + self.color_net.shared_parameters() + [self.variance.variance]

    def scene_state(self, scene: int) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.scene_parameters(scene)]

    @torch.no_grad()
    def load_scene_state(self, scene: int, tensors: list[torch.Tensor]) -> None:
        params = self.scene_parameters(scene)
        if len(params) != len(tensors):
            raise ValueError(f"scene state has {len(tensors)} tensors, the model expects {len(params)}")
        for p, t in zip(params, tensors, strict=True):
            p.copy_(t)

    @torch.no_grad()
    def load_shared_from(self, other: MultiNeuS) -> None:
        mine, theirs = self.shared_parameters(), other.shared_parameters()
        if [p.shape for p in mine] != [p.shape for p in theirs]:
            raise ValueError("shared parameters of the two Multi-NeuS models differ in shape")
        for p, q in zip(mine, theirs, strict=True):
            p.copy_(q)
