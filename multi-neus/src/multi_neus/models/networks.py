"""NeuS networks with scene-specific leading layers: SDF MLP, colour MLP, S-density and a NeRF++ background."""

from __future__ import annotations

import math

import torch
from shared_utils.errors import InputError
from torch import nn
from torch.nn import functional as F

from ..config import ColorNetworkConfig, SDFNetworkConfig
from .embedding import PositionalEncoding
from .scene_linear import SceneLinear


def _make_layer(in_dim: int, out_dim: int, scene_specific: bool, num_scenes: int, rank: int) -> nn.Module:
    return SceneLinear(in_dim, out_dim, num_scenes, rank) if scene_specific else nn.Linear(in_dim, out_dim)


def _run_layer(layer: nn.Module, x: torch.Tensor, scene: int) -> torch.Tensor:
    return layer(x, scene) if isinstance(layer, SceneLinear) else layer(x)


@torch.no_grad()
def _initialize(layer: nn.Module, sampler) -> None:
    if isinstance(layer, SceneLinear):
        layer.initialize(sampler)
    else:
        weight, bias = sampler()
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)


class SceneMLPMixin:
    layers: nn.ModuleList

    def scene_parameters(self, scene: int) -> list[nn.Parameter]:
        return [p for layer in self.layers if isinstance(layer, SceneLinear) for p in layer.scene_parameters(scene)]

    def shared_parameters(self) -> list[nn.Parameter]:
        params = []
        for layer in self.layers:
            params += layer.shared_parameters() if isinstance(layer, SceneLinear) else list(layer.parameters())
        return params


class SDFNetwork(SceneMLPMixin, nn.Module):
    """x -> (sdf, feature). Positional encoding, skip connections (concat input, / sqrt 2), Softplus(beta)."""

    def __init__(self, cfg: SDFNetworkConfig, num_scenes: int, scene_layers: int, rank: int):
        super().__init__()
        self.encoding = PositionalEncoding(3, cfg.multires)
        self.skip_layers = set(cfg.skip_layers)
        self.feature_dim = cfg.feature_dim
        d_in = self.encoding.output_dim
        num_linear = cfg.num_hidden_layers + 1
        if scene_layers >= num_linear:
            raise InputError(
                f"{scene_layers} scene-specific SDF layers leave no shared output layer ({num_linear} layers)"
            )
        if any(not 0 < s < num_linear for s in self.skip_layers):
            raise InputError(f"skip layers {sorted(self.skip_layers)} must lie in 1..{num_linear - 1}")
        if self.skip_layers and cfg.hidden_dim <= d_in:
            raise InputError(f"sdf.hidden_dim {cfg.hidden_dim} must exceed the encoded input size {d_in} to use skips")
        dims = [d_in] + [cfg.hidden_dim] * cfg.num_hidden_layers + [1 + cfg.feature_dim]
        layers = []
        for index in range(num_linear):
            out_dim = dims[index + 1] - d_in if index + 1 in self.skip_layers else dims[index + 1]
            layers.append(_make_layer(dims[index], out_dim, index < scene_layers, num_scenes, rank))
        self.layers = nn.ModuleList(layers)
        self.activation = nn.Softplus(beta=cfg.softplus_beta)
        if cfg.geometric_init:
            self._geometric_init(cfg.init_radius, d_in)
            self._calibrate_sphere(cfg.init_radius)

    def _geometric_init(self, radius: float, d_in: int) -> None:
        """SAL geometric initialisation: the network starts as the SDF of a sphere of ``radius``."""
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            out_dim, in_dim = layer.out_features, layer.in_features

            def sampler(index=index, out_dim=out_dim, in_dim=in_dim):
                if index == last:
                    weight = torch.randn(out_dim, in_dim) * 1e-4 + math.sqrt(math.pi) / math.sqrt(in_dim)
                    return weight, torch.full((out_dim,), -radius)
                weight = torch.randn(out_dim, in_dim) * (math.sqrt(2) / math.sqrt(out_dim))
                if index == 0:
                    weight[:, 3:] = 0.0
                elif index in self.skip_layers and d_in > 3:
                    weight[:, -(d_in - 3) :] = 0.0
                return weight, torch.zeros(out_dim)

            _initialize(layer, sampler)

    @torch.no_grad()
    def _calibrate_sphere(self, radius: float) -> None:
        """Rescale the (shared) output row so that the initial SDF fits |x| - radius in the least-squares sense.

        SAL's initialisation is a sphere only in expectation over infinitely wide layers; with the small CPU widths
        its radius and slope vary from draw to draw, so one affine correction of the SDF output fixes them.
        """
        last = self.layers[-1]
        if isinstance(last, SceneLinear):
            return
        generator = torch.Generator().manual_seed(0)
        directions = F.normalize(torch.randn(4096, 3, generator=generator), dim=-1)
        # A shell around the target radius: there the zero level set and the unit slope matter most.
        points = directions * (radius + 0.3 * radius * (2 * torch.rand(4096, 1, generator=generator) - 1))
        sdf = self.sdf(points, 0)[:, 0]
        design = torch.stack([sdf, torch.ones_like(sdf)], -1)
        target = points.norm(dim=-1) - radius
        scale, offset = torch.linalg.lstsq(design, target[:, None]).solution[:, 0]
        last.weight[0] *= scale
        last.bias[0] = last.bias[0] * scale + offset

    def forward(self, x: torch.Tensor, scene: int) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.encoding(x)
        h = encoded
        for index, layer in enumerate(self.layers):
            if index in self.skip_layers:
                h = torch.cat([h, encoded], -1) / math.sqrt(2)
            h = _run_layer(layer, h, scene)
            if index < len(self.layers) - 1:
                h = self.activation(h)
        return h[..., :1], h[..., 1:]

    def sdf(self, x: torch.Tensor, scene: int) -> torch.Tensor:
        return self.forward(x, scene)[0]

    def with_gradient(self, x: torch.Tensor, scene: int, create_graph: bool | None = None):
        """SDF, feature and the spatial SDF gradient; the gradient stays in the graph (for the eikonal loss and the
        colour network's normal input) when ``create_graph`` (default: whether autograd is enabled by the caller)."""
        create_graph = torch.is_grad_enabled() if create_graph is None else create_graph
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.requires_grad_(True)
            sdf, feature = self.forward(x, scene)
            (gradient,) = torch.autograd.grad(sdf, x, torch.ones_like(sdf), create_graph=create_graph)
        return sdf, feature, gradient


class ColorNetwork(SceneMLPMixin, nn.Module):
    """(x, normal, feature[, view direction]) -> RGB in [0, 1]; ReLU hidden layers, sigmoid output."""

    def __init__(self, cfg: ColorNetworkConfig, feature_dim: int, num_scenes: int, scene_layers: int, rank: int):
        super().__init__()
        self.view_encoding = PositionalEncoding(3, cfg.multires_view) if cfg.use_view_direction else None
        d_in = 6 + feature_dim + (self.view_encoding.output_dim if self.view_encoding is not None else 0)
        dims = [d_in] + [cfg.hidden_dim] * cfg.num_hidden_layers + [3]
        self.layers = nn.ModuleList(
            [
                _make_layer(dims[i], dims[i + 1], i < scene_layers, num_scenes, rank)
                for i in range(len(dims) - 1)
            ]
        )

    def forward(self, points, normals, features, view_dirs, scene: int) -> torch.Tensor:
        inputs = [points, normals, features]
        if self.view_encoding is not None:
            inputs.append(self.view_encoding(view_dirs))
        h = torch.cat(inputs, -1)
        for index, layer in enumerate(self.layers):
            h = _run_layer(layer, h, scene)
            if index < len(self.layers) - 1:
                h = F.relu(h)
        return torch.sigmoid(h)


class SingleVariance(nn.Module):
    """Learnable inverse standard deviation s = exp(10 v) of the logistic density."""

    def __init__(self, init_value: float):
        super().__init__()
        self.variance = nn.Parameter(torch.tensor(float(init_value)))

    def inv_s(self) -> torch.Tensor:
        return torch.exp(self.variance * 10.0).clamp(1e-6, 1e6)


class BackgroundNeRF(nn.Module):
    """NeRF++ outside model on the inverted sphere: (x/|x|, 1/|x|) -> (density, RGB)."""

    def __init__(self, multires: int = 4, hidden_dim: int = 64, num_layers: int = 3):
        super().__init__()
        self.encoding = PositionalEncoding(4, multires)
        dims = [self.encoding.output_dim] + [hidden_dim] * num_layers
        blocks = [(nn.Linear(dims[i], dims[i + 1]), nn.ReLU()) for i in range(num_layers)]
        self.trunk = nn.Sequential(*[m for block in blocks for m in block])
        self.head = nn.Linear(hidden_dim, 4)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norm = points.norm(dim=-1, keepdim=True).clamp_min(1.0)
        out = self.head(self.trunk(self.encoding(torch.cat([points / norm, 1.0 / norm], -1))))
        return F.softplus(out[..., 0]), torch.sigmoid(out[..., 1:])
