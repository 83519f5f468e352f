"""Labelled pictures: patch grids (input | truth | DEF | baseline), the run summary, extracted curves; colour maps
of distance fields for point clouds.

Distances are in shape units: DEF-Sim scale, where the 25 % quantile of a shape's sharp-curve lengths is 1 (the
largest extent is about 10). Near a sharp feature is bright in every distance picture and point cloud.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from shared_utils.io import atomic_write, colorize  # noqa: E402

DISTANCE_COLOUR_MAX = 0.25  # colour scale of point-cloud distance colours (beyond it: "far from features")
DISTANCE_CMAP = "magma_r"  # small distance (near a feature) bright
DISTANCE_UNITS = "shape units (25 % quantile of curve lengths = 1)"


def distance_colours(distance: np.ndarray, vmax: float = DISTANCE_COLOUR_MAX) -> np.ndarray:
    """(...,) distances -> (..., 3) colours in [0, 1], the colour map of the distance pictures."""
    return colorize(np.clip(np.asarray(distance, dtype=np.float64), 0.0, vmax), vmin=0.0, vmax=vmax,
                    cmap=DISTANCE_CMAP)


def save_figure(figure, path: Path) -> None:
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def _distance_image(axes, field: np.ndarray, mask: np.ndarray, truncation: float):
    cmap = plt.get_cmap(DISTANCE_CMAP).with_extremes(bad="0.6")  # grey: pixels without a surface hit
    return axes.imshow(np.ma.masked_where(~mask, field), cmap=cmap, vmin=0.0, vmax=truncation,
                       interpolation="nearest")


def _distance_colour_bar(figure, image, axes, threshold: float) -> None:
    bar = figure.colorbar(image, ax=axes, shrink=0.6, pad=0.02)
    bar.set_label(f"distance to the nearest sharp curve\n[{DISTANCE_UNITS}]\ncyan line: r = {threshold:g}")
    bar.ax.axhline(threshold, color="cyan", linewidth=1.5)


def patch_picture(path: Path, inputs: np.ndarray, truth: np.ndarray, masks: np.ndarray,
                  predictions: dict[str, np.ndarray], truncation: float, threshold: float) -> None:
    """One row per test patch: network input (normalised depth), true distance, then each prediction."""
    columns = ["input (normalised depth)", "true distance", *predictions]
    rows = len(inputs)
    figure, axes = plt.subplots(rows, len(columns), figsize=(2.3 * len(columns) + 1.5, 2.3 * rows + 0.6),
                                squeeze=False, layout="constrained")
    depth_image = distance_image = None
    for row in range(rows):
        mask = masks[row]
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.6")
        depth_image = axes[row, 0].imshow(np.ma.masked_where(~mask, inputs[row]), cmap=cmap, interpolation="nearest")
        fields = [truth[row], *(values[row] for values in predictions.values())]
        for column, field in enumerate(fields, start=1):
            distance_image = _distance_image(axes[row, column], field, mask, truncation)
        axes[row, 0].set_ylabel(f"patch {row + 1}")
    for column, title in enumerate(columns):
        axes[0, column].set_title(title, fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(depth_image, ax=axes[:, 0], shrink=0.8, pad=0.02, location="bottom").set_label(
        "depth above the patch's nearest point / input scale")
    _distance_colour_bar(figure, distance_image, axes[:, 1:], threshold)
    figure.suptitle("Held-out test patches: true and predicted distance-to-feature fields (grey: no surface)")
    save_figure(figure, path)


def summary_picture(path: Path, truth: np.ndarray, masks: np.ndarray, predictions: dict[str, np.ndarray],
                    scores: dict[str, str], truncation: float, threshold: float) -> None:
    """Representative picture of a run: a few test patches (rows) as truth and each method's estimate (columns),
    each method titled with its patch-level scores."""
    columns = ["true distance", *predictions]
    rows = len(truth)
    figure, axes = plt.subplots(rows, len(columns), figsize=(2.6 * len(columns) + 1.2, 2.6 * rows + 0.8),
                                squeeze=False, layout="constrained")
    image = None
    for row in range(rows):
        for column, field in enumerate([truth[row], *(values[row] for values in predictions.values())]):
            image = _distance_image(axes[row, column], field, masks[row], truncation)
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        axes[row, 0].set_ylabel(f"test patch {row + 1}")
    for column, name in enumerate(columns):
        axes[0, column].set_title(name + (f"\n{scores[name]}" if name in scores else "\n"), fontsize=9)
    _distance_colour_bar(figure, image, axes, threshold)
    figure.suptitle(f"DEF: distance to sharp features on held-out range-scan patches (sharp: d < r = {threshold:g})")
    save_figure(figure, path)


def views_picture(path: Path, masks: list[np.ndarray], fields: dict[str, np.ndarray], truncation: float,
                  threshold: float, title: str) -> None:
    """Whole-model distance fields seen from several scan directions: one row per view, one column per named field
    (e.g. fused DEF, a baseline, the truth). Each field holds the values of every view's surface pixels, view after
    view, in the row-major pixel order of that view's mask."""
    offsets = np.concatenate([[0], np.cumsum([int(mask.sum()) for mask in masks])])
    names = list(fields)
    figure, axes = plt.subplots(len(masks), len(names), figsize=(2.8 * len(names) + 1.5, 2.8 * len(masks) + 0.8),
                                squeeze=False, layout="constrained")
    image = None
    for row, mask in enumerate(masks):
        for column, name in enumerate(names):
            canvas = np.zeros(mask.shape)
            canvas[mask] = fields[name][offsets[row] : offsets[row + 1]]
            image = _distance_image(axes[row, column], canvas, mask, truncation)
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        axes[row, 0].set_ylabel(f"view {row + 1}")
    for column, name in enumerate(names):
        axes[0, column].set_title(name, fontsize=9)
    _distance_colour_bar(figure, image, axes, threshold)
    figure.suptitle(title)
    save_figure(figure, path)


def curves_picture(path: Path, points: np.ndarray, extracted: list[np.ndarray], truth: list[np.ndarray],
                   title: str = "Feature curves") -> None:
    """Extracted curves (red) and true curves (black, dashed) over a grey subsample of the shape's points."""
    figure = plt.figure(figsize=(6, 6))
    axes = figure.add_subplot(projection="3d")
    sample = points[:: max(1, len(points) // 4000)]
    axes.scatter(*sample.T, s=0.5, c="0.7", alpha=0.4, label="scanned points (subsample)")
    for index, line in enumerate(truth):
        axes.plot(*line.T, "k--", linewidth=0.8, label="true sharp curves" if index == 0 else None)
    for index, line in enumerate(extracted):
        axes.plot(*line.T, "r-", linewidth=1.5, label="extracted curves" if index == 0 else None)
    axes.set_box_aspect(np.ptp(points, axis=0) + 1e-9)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_zlabel("z")
    axes.legend(loc="upper left", fontsize=8)
    axes.set_title(f"{title}: {len(extracted)} extracted, {len(truth)} true")
    save_figure(figure, path)
