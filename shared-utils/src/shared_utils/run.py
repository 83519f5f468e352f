"""The run folder every member writes, the one rule for a saved run's config, the data root and provenance.

Layout of a run folder (``RunDir``)::

    config.yaml            the full config the run was trained with (written before training starts)
    checkpoints/last.ckpt  periodic, for resuming; checkpoints/best-*.ckpt when a metric is monitored
    logs/csv, logs/tensorboard
    metrics.json           the member's metrics plus a "provenance" block (config hash, seed, steps, machine)
    results.md             the metrics beside the thesis's table
    pictures/              PNG grids, videos, meshes and point clouds
    report.html            everything above on one page
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import yaml

from .config import config_to_dict, save_config
from .errors import InputError
from .io.atomic import load_json, save_json
from .io.reports import write_markdown

DATA_ROOT_ENV = "THESIS_DATA_ROOT"
PROVENANCE_KEY = "provenance"


class RunDir:
    """Paths of one run folder and the reads/writes every member does on it."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def __truediv__(self, name: str) -> pathlib.Path:
        return self.path / name

    @property
    def config(self) -> pathlib.Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> pathlib.Path:
        return self.checkpoints / "last.ckpt"

    @property
    def metrics(self) -> pathlib.Path:
        return self.path / "metrics.json"

    @property
    def results(self) -> pathlib.Path:
        return self.path / "results.md"

    @property
    def pictures(self) -> pathlib.Path:
        return self.path / "pictures"

    @property
    def logs(self) -> pathlib.Path:
        return self.path / "logs"

    @property
    def report(self) -> pathlib.Path:
        return self.path / "report.html"

    def create(self) -> RunDir:
        """Make the folder (refusing a path that is a file) and return self."""
        ensure_folder(self.path, "output folder")
        return self

    def resume_checkpoint(self) -> pathlib.Path | None:
        """``checkpoints/last.ckpt`` when an earlier, interrupted run left one."""
        return self.last_checkpoint if self.last_checkpoint.is_file() else None

    def best_checkpoint(self) -> pathlib.Path:
        """The newest ``best-*.ckpt``, else ``last.ckpt``; an InputError when the run has neither."""
        self.require()
        best = sorted(self.checkpoints.glob("best*.ckpt"), key=lambda p: p.stat().st_mtime)
        if best:
            return best[-1]
        if self.last_checkpoint.is_file():
            return self.last_checkpoint
        raise InputError(f"run folder '{self.path}' has no checkpoint in checkpoints/: train it first")

    def require(self) -> RunDir:
        """An InputError unless the folder exists and holds a saved config (i.e. was written by train)."""
        if not self.path.exists():
            raise InputError(f"run folder '{self.path}' not found")
        if not self.path.is_dir():
            raise InputError(f"run folder '{self.path}' is not a folder")
        if not self.config.is_file():
            raise InputError(f"run folder '{self.path}' has no config.yaml: it was not written by train or pipeline")
        return self

    def save_config(self, cfg) -> None:
        save_config(cfg, self.config)

    def load_config(self, load: Callable[[Any, Sequence[str]], Any], overrides: Sequence[str] = ()):
        """The one saved-config rule: a command on an existing run uses the run's ``config.yaml``, with
        ``key=value`` overrides on top (``--config`` is not accepted there: the run was trained with this one)."""
        self.require()
        return load(self.config, overrides)

    def write_metrics(self, metrics: dict, provenance: dict) -> None:
        save_json({**metrics, PROVENANCE_KEY: provenance}, self.metrics)

    def read_metrics(self) -> dict:
        return load_json(self.metrics)

    def write_results(self, markdown: str) -> None:
        write_markdown(self.results, markdown)

    @property
    def captions(self) -> pathlib.Path:
        return self.pictures / "captions.json"

    def add_caption(self, picture: str, text: str) -> None:
        """Say what a file in ``pictures/`` shows (rows, columns, units); the run's report prints it beside it."""
        existing = load_json(self.captions) if self.captions.is_file() else {}
        save_json({**existing, picture: text}, self.captions)


def ensure_folder(path, what: str = "folder", writable: bool = True) -> pathlib.Path:
    """Create ``path`` (and parents); an InputError naming it when it is a file, lies under a file or is read-only."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} '{path}' is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputError(f"{what} '{path}' cannot be created: a part of the path is a file") from exc
    except PermissionError as exc:
        raise InputError(f"{what} '{path}' cannot be created: permission denied") from exc
    if writable and not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{what} '{path}' is not writable")
    return path


def data_root(member: str, configured=None, writable: bool = True) -> pathlib.Path:
    """Where a member keeps its data: ``configured`` when set, else ``$THESIS_DATA_ROOT/<member>``, else
    ``data/<member>`` under the working directory. The folder is created and checked."""
    if configured not in (None, ""):
        root = pathlib.Path(configured)
        what = "data folder"
    elif os.environ.get(DATA_ROOT_ENV):
        base = pathlib.Path(os.environ[DATA_ROOT_ENV])
        if base.exists() and not base.is_dir():
            raise InputError(f"${DATA_ROOT_ENV} '{base}' is a file, not a folder")
        root = base / member
        what = f"data folder (${DATA_ROOT_ENV}/{member})"
    else:
        root = pathlib.Path("data") / member
        what = "data folder"
    return ensure_folder(root, what, writable=writable)


@contextlib.contextmanager
def data_lock(folder) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while generating data into it, so that two runs sharing a data root
    neither write the same files at once nor read half-written ones. Blocks until the other run is done."""
    import fcntl

    folder = ensure_folder(folder, "data folder")
    lock_path = folder / ".lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def config_hash(cfg) -> str:
    """SHA-256 of the config's canonical YAML (sorted keys): equal configs hash equal across machines."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _git_commit(start: pathlib.Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    info = {
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


@dataclasses.dataclass
class RunClock:
    """Wall time of one command, started when the command starts."""

    started: float = dataclasses.field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return time.perf_counter() - self.started


def provenance(cfg, *, seed: int, steps: dict[str, int], wall_time_s: float,
               time_limit_reached: bool = False) -> dict:
    """The block every ``metrics.json`` carries: which config and seed, how many steps each stage actually ran,
    how long it took, on what machine and code. Only ``wall_time_s`` and ``machine`` may differ between two runs of
    the same config and seed."""
    return {
        "config_sha256": config_hash(cfg),
        "seed": seed,
        "steps": dict(steps),
        "time_limit_reached": bool(time_limit_reached),
        "wall_time_s": round(float(wall_time_s), 1),
        "machine": machine(),
        "git_commit": _git_commit(pathlib.Path(__file__).parent),
    }


def metrics_without_provenance(metrics: dict) -> dict:
    """The part of a ``metrics.json`` that must be identical for the same config and seed."""
    return {k: v for k, v in metrics.items() if k != PROVENANCE_KEY}


TIME_LIMIT_EXIT_CODE = 3


def pipeline_exit_code(metrics: dict) -> int:
    """What a pipeline returns: 0, or TIME_LIMIT_EXIT_CODE after one stderr warning when the opt-in time limit cut
    training short (everything is written; the numbers are not those of a full run)."""
    message = time_limit_message(metrics)
    if message is None:
        return 0
    import sys

    print(f"warning: {message}", file=sys.stderr)
    return TIME_LIMIT_EXIT_CODE


def time_limit_message(metrics: dict) -> str | None:
    """A one-line warning when the run was cut short by an opt-in time limit, else None."""
    block = metrics.get(PROVENANCE_KEY, {})
    if not block.get("time_limit_reached"):
        return None
    return (f"the opt-in time limit stopped training early (steps run: {block.get('steps')}); "
            "these metrics are not comparable to a full run")

