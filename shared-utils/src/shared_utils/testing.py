"""Helpers for the members' bad-input and crash tests: generated broken files and CLI result checks.

The broken files are written on the fly (nothing is committed), one factory per case class, so that every member's
test matrix covers the same classes: missing, zero-byte, text renamed to a binary suffix, truncated, NaN-filled,
wrong shape, pickled objects.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TEXT = "this is plain text, not the format its name claims\n"


def missing(folder: pathlib.Path, name: str) -> pathlib.Path:
    return pathlib.Path(folder) / "does-not-exist" / name


def zero_byte(folder: pathlib.Path, name: str) -> pathlib.Path:
    path = pathlib.Path(folder) / name
    path.write_bytes(b"")
    return path


def text_as(folder: pathlib.Path, name: str) -> pathlib.Path:
    """Plain text under a name such as ``model.ckpt``, ``points.ply`` or ``image.png``."""
    path = pathlib.Path(folder) / name
    path.write_text(TEXT)
    return path


def truncated_copy(source: pathlib.Path, folder: pathlib.Path, fraction: float = 0.5) -> pathlib.Path:
    """The first ``fraction`` of ``source``'s bytes, as a crashed download or copy leaves it."""
    source = pathlib.Path(source)
    path = pathlib.Path(folder) / f"truncated-{source.name}"
    data = source.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    return path


def npz_file(folder: pathlib.Path, name: str, **arrays) -> pathlib.Path:
    path = pathlib.Path(folder) / name
    np.savez(path, **arrays)
    return path


def pickled_npy(folder: pathlib.Path, name: str = "pickled.npy") -> pathlib.Path:
    path = pathlib.Path(folder) / name
    np.save(path, np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    return path


def with_nan(array: np.ndarray, index=0) -> np.ndarray:
    out = np.array(array, dtype=np.float64, copy=True)
    out.flat[index] = np.nan
    return out


def unwritable_root(folder: pathlib.Path) -> pathlib.Path:
    """A data/output root whose path runs through a regular file (fails even as root, unlike chmod)."""
    blocker = pathlib.Path(folder) / "a-file"
    blocker.write_text("")
    return blocker / "root"


BROKEN_CONFIG_CASES = ("zero-byte", "list-valued", "text", "not-yaml", "unknown-key", "wrong-type", "missing-file",
                       "unknown-name")


def broken_config(folder: pathlib.Path, case: str, unknown_key: str = "trainer.max_step") -> tuple[str, str]:
    """A broken ``--config`` value for ``case`` (one of ``BROKEN_CONFIG_CASES``) and a text the error line must
    contain. ``unknown_key`` is a dotted key the member's config lacks (nested keys test the nested check)."""
    folder = pathlib.Path(folder)
    if case == "zero-byte":
        return str(zero_byte(folder, "empty.yaml")), "empty.yaml"
    if case == "text":
        return str(text_as(folder, "text.yaml")), "mapping"
    if case == "missing-file":
        return str(missing(folder, "config.yaml")), "config.yaml"
    if case == "unknown-name":
        return "no-such-config", "no-such-config"
    if case == "unknown-key":
        *parents, leaf = unknown_key.split(".")
        text = "".join(f"{'  ' * depth}{name}:\n" for depth, name in enumerate(parents))
        content, named = text + f"{'  ' * len(parents)}{leaf}: 3\n", unknown_key
    else:
        content, named = {"list-valued": ("- seed\n- 1\n", "mapping"), "not-yaml": ("seed: [unclosed\n", "YAML"),
                          "wrong-type": ("seed: many\n", "seed")}[case]
    path = folder / f"{case}.yaml"
    path.write_text(content)
    return str(path), named


def load_run_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """Open every file of a run folder with the reader of its kind (a damaged or half-written file, or one of a kind
    it has no reader for, raises); returns the files read. Hidden files are skipped: data locks, and the temporary
    of an atomic write that a kill interrupted (the file it was replacing is still complete)."""
    import csv

    import yaml

    from .io import load_arrays, load_checkpoint, load_json, read_image, read_video
    from .io.geometry import read_line_set, read_mesh, read_point_cloud
    from .report.scenes import kind_of

    read = []
    for path in sorted(p for p in pathlib.Path(folder).rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if path.name.startswith("."):
            continue
        assert path.stat().st_size > 0, f"empty file in the run folder: {path}"
        if suffix in (".ckpt", ".pt"):
            load_checkpoint(path)
        elif suffix == ".json":
            load_json(path)
        elif suffix == ".yaml":
            assert isinstance(yaml.safe_load(path.read_text()), dict), path
        elif suffix == ".csv":
            with open(path, newline="") as handle:
                assert list(csv.DictReader(handle)), path
        elif suffix in (".png", ".jpg"):
            assert np.isfinite(read_image(path)).all(), path
        elif suffix in (".gif", ".mp4"):
            assert len(read_video(path)) > 0, path
        elif suffix in (".npy", ".npz"):
            load_arrays(path)
        elif suffix in (".ply", ".obj", ".off", ".stl"):
            {"mesh": read_mesh, "lines": read_line_set, "points": read_point_cloud}[kind_of(path)](path)
        elif suffix in (".md", ".html", ".txt"):
            assert path.read_text().strip(), path
        elif path.name.startswith("events.out.tfevents"):
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

            list(EventFileLoader(str(path)).Load())
        else:
            raise AssertionError(f"no reader for this kind of file in the run folder: {path}")
        read.append(path)
    return read


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli(argv: Sequence[str], env: dict | None = None, cwd=None, timeout: float = 300) -> CliResult:
    """Run a console script (``argv[0]``) in a subprocess, as a user would."""
    full_env = {**os.environ, "CI": "true", **(env or {})}
    full_env.pop("SHARED_UTILS_TRACEBACK", None)
    done = subprocess.run(list(argv), capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def run_main(main: Callable[[Sequence[str]], int], argv: Sequence[str], capsys) -> CliResult:
    """Call a member's ``cli.main`` in-process (fast) and capture it as :func:`run_cli` would."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(int(code or 0), captured.out, captured.err)


def assert_clean_error(result: CliResult, *mentions: str) -> None:
    """Exit code 2, exactly one non-empty stderr line starting with ``error:``, no traceback, naming ``mentions``."""
    lines = result.error_lines
    assert result.returncode == 2, f"exit code {result.returncode}, expected 2; stderr: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {lines[:5]}"
    assert lines[0].startswith("error:"), lines[0]
    for text in mentions:
        assert text in lines[0], f"error line does not name '{text}': {lines[0]}"


def kill_after_file(argv: Sequence[str], watched: pathlib.Path, env: dict | None = None, cwd=None,
                    timeout: float = 600) -> int:
    """Start ``argv``, SIGKILL it as soon as ``watched`` exists, return its exit status (-9 when killed).

    Returns the normal exit status if the command ended before writing ``watched``.
    """
    full_env = {**os.environ, "CI": "true", **(env or {})}
    process = subprocess.Popen(list(argv), env=full_env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if pathlib.Path(watched).exists():
                process.send_signal(signal.SIGKILL)
                return process.wait()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv[0]} wrote no {watched} within {timeout} s")
            time.sleep(0.05)
        return process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def console_script(name: str) -> str:
    """The path of an installed console script next to this interpreter (works in any venv)."""
    candidate = pathlib.Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name
