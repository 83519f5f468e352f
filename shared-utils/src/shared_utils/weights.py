"""Finding and strictly loading pretrained weights that were put on disk beforehand (nothing is downloaded)."""

from __future__ import annotations

import os
import pathlib
import pickle
import zipfile

import torch

from .errors import InputError


class WeightsNotFoundError(InputError):
    """A pretrained weight file is not where it was looked for."""


def torch_cache_checkpoints_dir() -> pathlib.Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), where torchvision keeps weights."""
    return pathlib.Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, *, explicit=None, env_var: str | None = None) -> pathlib.Path:
    """Look for ``filename`` at ``explicit``, then ``$env_var`` (a file or a folder), then the torch cache."""
    if explicit is not None:
        path = pathlib.Path(explicit).expanduser()
        if path.is_dir():
            path = path / filename
        if path.is_file():
            return path
        raise WeightsNotFoundError(f"pretrained weights '{filename}' not found at the given path {path}")
    if env_var and os.environ.get(env_var):
        path = pathlib.Path(os.environ[env_var]).expanduser()
        if path.is_dir():
            path = path / filename
        if path.is_file():
            return path
        raise WeightsNotFoundError(f"pretrained weights '{filename}' not found at {path} (from ${env_var})")
    path = torch_cache_checkpoints_dir() / filename
    if path.is_file():
        return path
    alternative = f" (or set ${env_var} to its path)" if env_var else ""
    raise WeightsNotFoundError(f"pretrained weights '{filename}' not found: put the file at {path}{alternative}")


def load_state_dict_file(path, *, key: str | None = None, map_location="cpu") -> dict:
    """A state dict from a torch checkpoint, loaded with ``weights_only=True``; ``key`` selects a sub-dict."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"weight file '{path}' not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"weight file '{path}' is corrupt or not a torch checkpoint ({type(exc).__name__})") from exc
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            found = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
            raise InputError(f"weight file '{path}' has no entry '{key}' (found {found})")
        data = data[key]
    if not isinstance(data, dict):
        raise InputError(f"weight file '{path}' holds a {type(data).__name__}, not a state dict")
    return data


def load_weights_strict(module: torch.nn.Module, state_dict: dict, *, strip_prefix: str | None = None) -> None:
    """Load every parameter and buffer of ``module``; any missing or unexpected key is an InputError."""
    if strip_prefix:
        state_dict = {k.removeprefix(strip_prefix): v for k, v in state_dict.items()}
    expected, given = set(module.state_dict()), set(state_dict)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise InputError(
            f"weights do not match {type(module).__name__}: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise InputError(f"weights do not match {type(module).__name__}: {first}") from exc
