"""Training curves from Lightning's CSVLogger files (``logs/**/metrics.csv``), drawn with matplotlib as PNG."""

from __future__ import annotations

import csv
import io
import math
import pathlib

import numpy as np

PANELS = ("loss", "validation", "learning rate", "other")
# Beyond this many points a line carries no marker; validation curves (a few points) do.
MARKER_LIMIT = 60


def read_csv_log(path: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{column: (steps, values)}`` for every logged column, skipping the rows where it is empty.
    CSVLogger writes one sparse row per logging call; the x axis is its ``step`` column (else the row number)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    series = {}
    for column in rows[0]:
        if column in ("step", "epoch") or column is None:
            continue
        steps, values = [], []
        for number, row in enumerate(rows):
            value = _float(row.get(column))
            if value is None:
                continue
            step = _float(row.get("step"))
            steps.append(number if step is None else step)
            values.append(value)
        if values:
            series[column] = (np.asarray(steps), np.asarray(values))
    return series


def _float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def panel_of(column: str) -> str:
    name = column.lower()
    if name.startswith(("val", "test")) or "/val" in name or "_val" in name:
        return "validation"
    if name.startswith("lr") or "learning_rate" in name or name.endswith(("/lr", "_lr")):
        return "learning rate"
    if "loss" in name:
        return "loss"
    return "other"


def _log_scale(values: list[np.ndarray]) -> bool:
    """A log axis when every value is positive and they span more than two decades (losses, warm-up LRs)."""
    joined = np.concatenate(values)
    return bool((joined > 0).all() and joined.max() / joined.min() > 100)


def curves_png(path: pathlib.Path, title: str) -> bytes | None:
    """One PNG of a CSV log, one panel per kind of column (loss, validation, learning rate, other) against the
    training step; None when the log holds no values."""
    series = read_csv_log(path)
    panels = {name: {c: s for c, s in series.items() if panel_of(c) == name} for name in PANELS}
    panels = {name: columns for name, columns in panels.items() if columns}
    if not panels:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * len(panels), 3.8), layout="constrained")
    figure.suptitle(title, fontsize=10)
    for axes, (name, columns) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True):
        for column, (steps, values) in columns.items():
            axes.plot(steps, values, label=column, marker="o" if len(values) <= MARKER_LIMIT else None, markersize=3)
        if _log_scale([values for _, values in columns.values()]):
            axes.set_yscale("log")
        axes.set_title(name)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
