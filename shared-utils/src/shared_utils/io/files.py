"""Checked readers for the binary files a user hands to a command: checkpoints and NumPy arrays.

Each one turns a missing, empty, truncated, pickled or mis-shaped file into one ``InputError`` sentence that names
the file and the problem, instead of the ``EOFError``/``UnpicklingError``/``IndexError`` that torch and NumPy raise.
"""

from __future__ import annotations

import pathlib
import pickle
import zipfile

import numpy as np

from ..errors import InputError, check_finite


def _existing_file(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"{what} '{path}' not found")
    if not path.is_file():
        raise InputError(f"{what} '{path}' is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{what} '{path}' is empty (0 bytes)")
    return path


def load_checkpoint(path, map_location="cpu", weights_only: bool = False) -> dict:
    """A torch checkpoint as a dict (Lightning's layout or a plain state dict).

    ``weights_only=False`` is needed for Lightning checkpoints, which pickle hyper-parameters: load only files you
    trust, as with ``torch.load``.
    """
    import torch

    path = _existing_file(path, "checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=weights_only)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, IndexError,
            AttributeError, ModuleNotFoundError, UnicodeDecodeError, OSError) as exc:
        # A truncated zip archive makes torch raise a bare OSError (EINVAL) that names no file.
        raise InputError(f"checkpoint '{path}' is corrupt or not a torch checkpoint ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise InputError(f"checkpoint '{path}' holds a {type(data).__name__}, not a checkpoint dictionary")
    return data


def load_arrays(path, required: tuple[str, ...] = (), finite: bool = True) -> dict[str, np.ndarray]:
    """Arrays from ``.npz`` (every entry) or ``.npy`` (under the key ``"array"``); pickled objects are refused.

    ``required`` names the entries that must be present; ``finite`` refuses NaN/Inf in floating-point entries.
    """
    path = _existing_file(path, "array file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            arrays = {"array": loaded}
        else:
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in message.lower():
            raw = path.read_bytes()[:6]
            message = ("it holds pickled Python objects, which are not loaded"
                       if raw.startswith((b"\x93NUMPY", b"PK")) else "it is not a NumPy .npy/.npz file")
        raise InputError(f"array file '{path}' could not be read: {message}") from exc
    missing = [name for name in required if name not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "none"
        raise InputError(f"array file '{path}' lacks {', '.join(missing)} (found: {found})")
    if finite:
        for name, value in arrays.items():
            if np.issubdtype(value.dtype, np.floating):
                check_finite(value, f"array file '{path}' entry '{name}'")
    return arrays
