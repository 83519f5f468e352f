"""Training curves from Lightning's CSVLogger files (``logs/**/metrics.csv``) as interactive plotly figures."""

from __future__ import annotations

import csv
import math
import pathlib

import numpy as np

PANELS = ("loss", "validation", "learning rate", "other")
# Beyond this many points a line carries no marker; validation curves (a few points) do.
MARKER_LIMIT = 60
CURVES_HEIGHT_PX = 340


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


def curves_html(path: pathlib.Path, title: str) -> str | None:
    """An interactive plotly figure (without plotly.js itself) of a CSV log: one panel per kind of column (loss,
    validation, learning rate, other) against the training step; None when the log holds no values."""
    series = read_csv_log(path)
    panels = {name: {c: s for c, s in series.items() if panel_of(c) == name} for name in PANELS}
    panels = {name: columns for name, columns in panels.items() if columns}
    if not panels:
        return None
    import plotly.io
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.06)
    for number, columns in enumerate(panels.values(), start=1):
        for column, (steps, values) in columns.items():
            figure.add_scatter(x=steps, y=values, name=column, row=1, col=number,
                               mode="lines+markers" if len(values) <= MARKER_LIMIT else "lines", marker={"size": 4})
        figure.update_xaxes(title_text="step", row=1, col=number)
        if _log_scale([values for _, values in columns.values()]):
            figure.update_yaxes(type="log", row=1, col=number)
    figure.update_layout(height=CURVES_HEIGHT_PX, margin={"l": 50, "r": 10, "t": 60, "b": 40},
                         title={"text": title, "font": {"size": 12}}, legend={"font": {"size": 10}})
    return plotly.io.to_html(figure, full_html=False, include_plotlyjs=False,
                             config={"displaylogo": False, "responsive": True})
