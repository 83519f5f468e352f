"""``write_index(outputs)``: every run's report (written when missing or older than the run's files) and one index
page linking them with their headline numbers."""

from __future__ import annotations

import datetime
import pathlib

from ..errors import InputError
from ..io.atomic import atomic_write
from ..run import PROVENANCE_KEY, RunDir, time_limit_message
from .markup import escape, format_number, page
from .page import read_metrics, write_report

# What a report is built from: a newer one of these makes the report stale.
REPORT_SOURCES = ("config.yaml", "metrics.json", "results.md", "pictures/captions.json")


def run_folders(outputs: pathlib.Path) -> list[tuple[str, RunDir]]:
    """``(alias, run)`` for every ``outputs/<alias>/<run>/`` holding a config.yaml or a metrics.json."""
    found = []
    for alias in sorted(p for p in outputs.iterdir() if p.is_dir()):
        for folder in sorted(p for p in alias.iterdir() if p.is_dir()):
            run = RunDir(folder)
            if run.config.is_file() or run.metrics.is_file():
                found.append((alias.name, run))
    return found


def _stale(run: RunDir) -> bool:
    if not run.report.is_file():
        return True
    written = run.report.stat().st_mtime
    return any((run.path / name).is_file() and (run.path / name).stat().st_mtime > written for name in REPORT_SOURCES)


def _row(outputs: pathlib.Path, alias: str, run: RunDir) -> str:
    metrics, note = read_metrics(run)
    link = run.report.relative_to(outputs).as_posix()
    headline = metrics.get("headline") or {}
    numbers = "<br>".join(f"{escape(k)}: <b>{format_number(v)}</b>" for k, v in headline.items())
    block = metrics.get(PROVENANCE_KEY) or {}
    steps = ", ".join(f"{escape(k)} {format_number(v)}" for k, v in (block.get("steps") or {}).items())
    wall = f"{block['wall_time_s'] / 60:.1f} min" if isinstance(block.get("wall_time_s"), (int, float)) else ""
    evaluated = ""
    if run.metrics.is_file():
        stamp = datetime.datetime.fromtimestamp(run.metrics.stat().st_mtime, tz=datetime.timezone.utc)
        evaluated = stamp.strftime("%Y-%m-%d %H:%M UTC")
    warning = time_limit_message(metrics)
    state = note or (f'<span class="warning">{escape(warning)}</span>' if warning else "")
    if not run.metrics.is_file():
        state = '<span class="missing">not evaluated</span>'
    return (f"<tr><td>{escape(alias)}</td><td><a href=\"{escape(link)}\">{escape(run.path.name)}</a></td>"
            f"<td>{numbers}</td><td>{steps}</td><td>{wall}</td><td>{evaluated}</td><td>{state}</td></tr>")


def write_index(outputs) -> pathlib.Path:
    """Write every missing or stale ``outputs/<alias>/<run>/report.html`` and ``outputs/index.html``."""
    outputs = pathlib.Path(outputs)
    if not outputs.is_dir():
        raise InputError(f"outputs folder '{outputs}' not found" if not outputs.exists()
                         else f"outputs folder '{outputs}' is not a folder")
    runs = run_folders(outputs)
    for alias, run in runs:
        if _stale(run):
            write_report(run, member=alias)
    headers = ["member", "run (report)", "headline", "steps", "wall time", "evaluated", ""]
    head = "".join(f"<th>{h}</th>" for h in headers)
    rows = "".join(_row(outputs, alias, run) for alias, run in runs)
    body = (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if runs
            else f"<p>No run folders under <code>{escape(outputs.resolve())}</code> yet.</p>")
    index = outputs / "index.html"
    with atomic_write(index, "w") as f:
        f.write(page("Runs", f"Every run under <code>{escape(outputs.resolve())}</code>", [("runs", "Runs", body)]))
    return index
