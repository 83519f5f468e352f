"""User-facing errors: one sentence naming the thing and the problem, and a console-script wrapper."""

from __future__ import annotations

import functools
import os
import sys

import numpy as np


class InputError(ValueError):
    """A problem with user input (a file, a shape, a value), reported as one sentence."""


def check_finite(x, name: str) -> None:
    # torch is looked up, not imported: console scripts import this module first and should start fast.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        finite = torch.isfinite(x).all()
    else:
        finite = np.isfinite(np.asarray(x)).all()
    if not bool(finite):
        raise InputError(f"{name} contains NaN or infinite values")


def _format_shape(shape) -> str:
    letters = iter("NMKLPQ")
    dims = ["?" if d is None else str(d) for d in shape]
    # Wildcards read better as letters, as in docs: (N, 3) rather than (?, 3).
    dims = [next(letters, "?") if d == "?" else d for d in dims]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def check_shape(x, shape: tuple, name: str) -> None:
    actual = tuple(x.shape)
    ok = len(actual) == len(shape) and all(e is None or e == a for a, e in zip(actual, shape, strict=False))
    if not ok:
        got = "(" + ", ".join(str(d) for d in actual) + ("," if len(actual) == 1 else "") + ")"
        raise InputError(f"{name} has shape {got}, expected {_format_shape(shape)}")


def _os_error_message(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"file '{exc.filename}' not found"
    reason = exc.strerror or type(exc).__name__
    if exc.filename:
        return f"cannot use '{exc.filename}': {reason.lower()}"
    return str(exc) or reason


def cli_entry(fn):
    """Wrap a console-script ``main``: input problems become one ``error:`` line and exit code 2.

    Operating-system errors (a data root that is a file, an unwritable output folder) are input problems too:
    they name a path the user chose. ``SHARED_UTILS_TRACEBACK=1`` re-raises for debugging.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (InputError, OSError) as exc:
            if os.environ.get("SHARED_UTILS_TRACEBACK") == "1":
                raise
            message = _os_error_message(exc) if isinstance(exc, OSError) else str(exc)
            # Collapse newlines: scripts and CI logs get exactly one line per failure.
            print(f"error: {' '.join(message.split())}", file=sys.stderr)
            sys.exit(2)

    return wrapper
