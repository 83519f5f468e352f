"""LPIPS with the torchvision backbone read from the torch cache, never a silently random backbone."""

from __future__ import annotations

import pathlib
import warnings
from importlib.resources import files

import lpips as lpips_package
import torch

from ..weights import WeightsNotFoundError, find_weights, load_state_dict_file, load_weights_strict

# torchvision's file names; torchvision.models.*(weights=...) would download them, so we only ever read them.
BACKBONE_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
ENV_VAR = "LPIPS_BACKBONE_WEIGHTS"


def _backbone_file(net: str) -> str:
    if net not in BACKBONE_FILES:
        raise ValueError(f"LPIPS net '{net}' is not supported, expected one of {sorted(BACKBONE_FILES)}")
    return BACKBONE_FILES[net]


def lpips_unavailable_reason(net: str = "vgg") -> str | None:
    """Why ``LPIPS(net)`` cannot be built here (the missing-weights sentence), or None when it can."""
    try:
        find_weights(_backbone_file(net), env_var=ENV_VAR)
    except WeightsNotFoundError as exc:
        return str(exc)
    return None


class LPIPS(torch.nn.Module):
    """Learned perceptual distance between images (..., 3, H, W) in [0, 1]; lower is more similar."""

    def __init__(self, net: str = "vgg", weights=None):
        super().__init__()
        backbone = load_state_dict_file(find_weights(_backbone_file(net), explicit=weights, env_var=ENV_VAR))
        # The calibrated linear heads ship inside the lpips wheel.
        linear = load_state_dict_file(pathlib.Path(str(files("lpips"))) / "weights" / "v0.1" / f"{net}.pth")
        # pretrained=False / pnet_rand=True stop the package from downloading. Building on the meta device skips
        # initialising a random backbone (and torchvision's 100M-parameter classifier) that is overwritten anyway.
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained`
            self.model = lpips_package.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
        self.model.to_empty(device="cpu")
        # One strict load of every tensor, so nothing stays uninitialised. lpips slices torchvision's `features`
        # but keeps the layer indices (net.slice2.5 is features.5; the file's classifier is unused), `lins.i`
        # aliases `lin{i}`, and the input scaling constants come from a fresh ScalingLayer.
        sources = {"net": backbone, "lins": linear, "scaling_layer": lpips_package.ScalingLayer().state_dict()}
        state = {}
        for key in self.model.state_dict():
            head, rest = key.split(".", 1)
            name = {"net": "features." + rest.split(".", 1)[-1], "lins": "lin" + rest, "scaling_layer": rest}.get(
                head, key)
            source = sources.get(head, linear)
            if name in source:
                state[key] = source[name]
        load_weights_strict(self.model, state)
        self.model.eval().requires_grad_(False)

    def train(self, mode: bool = True):
        # A metric: the dropout in lpips' linear heads must stay off even inside a module that is training.
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        batch = pred.shape[:-3]
        flat = [x.reshape(-1, *x.shape[-3:]) for x in (pred, target)]
        return self.model(*flat, normalize=True).reshape(batch)

