"""Labelled pictures: parts coloured with a legend of DensePose's 24 part names, U/V contours with colour bars (as
thesis Fig. 11), the evaluation grid, loss curves and the run's summary picture."""

from __future__ import annotations

import csv
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .data import body  # noqa: E402
from .evaluation.metrics import paste_box_map  # noqa: E402


def part_names() -> list[str]:
    """Names of the fine parts 1..24 (index 0: background), from the body model's segments."""
    names = ["background"] + [""] * body.NUM_PARTS
    sides = {"front_back": ("front", "back"), "right_left": ("right", "left"), "full": ("",)}
    for segment in body.SEGMENTS:
        for part, side in zip(segment.fine, sides[segment.kind], strict=True):
            names[part] = f"{segment.name.replace('_', ' ')} {side}".strip()
    return names


PART_NAMES = part_names()
PALETTE = plt.get_cmap("hsv")(np.linspace(0, 0.95, body.NUM_PARTS + 1))[:, :3]
PALETTE[0] = 0


def paste_iuv(detections: list[dict], height: int, width: int, score_thresh: float = 0.5) -> np.ndarray:
    """Composite (3, H, W) IUV image of the detections above ``score_thresh`` (higher scores drawn last, on top)."""
    canvas = np.zeros((3, height, width), dtype=np.float32)
    for det in sorted(detections, key=lambda d: d["score"]):
        if det["score"] < score_thresh:
            continue
        pasted = paste_box_map(np.asarray(det["iuv"], dtype=np.float32), det["bbox"], (height, width))
        fg = pasted[0] > 0
        canvas[:, fg] = pasted[:, fg]
    return canvas


def overlay_parts(image: np.ndarray, iuv: np.ndarray) -> np.ndarray:
    """The image dimmed, with each body pixel in its part's colour (``PALETTE``)."""
    fg = iuv[0] > 0
    out = image * 0.5
    out[fg] = 0.2 * image[fg] + 0.8 * PALETTE[iuv[0].astype(np.int64)][fg]
    return out.astype(np.float32)


def _parts_legend(ax, parts: np.ndarray, fontsize: float = 7) -> None:
    present = [int(p) for p in np.unique(parts) if p > 0] or list(range(1, body.NUM_PARTS + 1))
    handles = [Patch(color=PALETTE[p], label=f"{p} {PART_NAMES[p]}") for p in present]
    ax.legend(handles=handles, loc="upper left", fontsize=fontsize, frameon=False, title="I (part)",
              title_fontsize=fontsize + 1, ncol=1 if len(handles) <= 12 else 2, columnspacing=0.8)
    ax.axis("off")


def _contours(ax, image: np.ndarray, iuv: np.ndarray, channel: int):
    ax.imshow(image * 0.6, interpolation="nearest")
    values = np.where(iuv[0] > 0, iuv[channel], np.nan)
    if (iuv[0] > 0).any():
        return ax.contour(values, levels=np.linspace(0.05, 0.95, 10), cmap="jet", vmin=0, vmax=1, linewidths=0.8)
    return None


def _colorbar(fig, ax, name: str) -> None:
    mappable = plt.cm.ScalarMappable(cmap="jet", norm=plt.Normalize(0, 1))
    fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02).set_label(f"{name} (chart coordinate, 0..1)", fontsize=7)


def figure_panels(image: np.ndarray, iuv: np.ndarray, gt_iuv: np.ndarray | None = None) -> np.ndarray:
    """One labelled row: image | predicted parts | U contours | V contours [| ground-truth parts] | part legend."""
    panels = 5 + (gt_iuv is not None)
    height = 2.8 * image.shape[0] / image.shape[1] + 0.4
    fig, axes = plt.subplots(1, panels, figsize=(2.8 * panels, max(height, 3.0)), dpi=80,
                             gridspec_kw={"width_ratios": [1] * (panels - 1) + [1.6]})
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(overlay_parts(image, iuv))
    axes[1].set_title("predicted I (parts)", fontsize=8)
    for ax, channel, name in ((axes[2], 1, "U"), (axes[3], 2, "V")):
        _contours(ax, image, iuv, channel)
        ax.set_title(f"predicted {name} contours", fontsize=8)
        _colorbar(fig, ax, name)
    if gt_iuv is not None:
        axes[4].imshow(overlay_parts(image, gt_iuv))
        axes[4].set_title("ground truth I (annotated points)", fontsize=8)
    for ax in axes[:-1]:
        ax.axis("off")
    _parts_legend(axes[-1], np.concatenate([iuv[0].ravel(), [] if gt_iuv is None else gt_iuv[0].ravel()]), 6)
    fig.tight_layout(pad=0.3)
    return _to_array(fig)


def titled(picture: np.ndarray, title: str) -> np.ndarray:
    """``picture`` under a one-line title band."""
    h, w = picture.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100 + 0.4), dpi=100)
    ax = fig.add_axes((0, 0, 1, h / (h + 40)))
    ax.imshow(picture, interpolation="nearest")
    ax.axis("off")
    fig.text(0.5, 1 - 20 / (h + 40), title, ha="center", va="center", fontsize=10)
    return _to_array(fig)


def _to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
    plt.close(fig)
    return rgb


def _native_panels(image: np.ndarray, count: int, side_inches: float, dpi: int = 100):
    """A figure with ``count`` image panels of exactly the image's pixel size side by side, a title band above and
    ``side_inches`` to the right of each for its legend or colour bar."""
    h, w = image.shape[:2]
    top, gap = 0.35, side_inches
    fig_w = count * (w / dpi + gap)
    fig_h = h / dpi + top
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    axes = []
    for k in range(count):
        left = k * (w / dpi + gap) / fig_w
        axes.append(fig.add_axes((left, 0, (w / dpi) / fig_w, (h / dpi) / fig_h)))
    return fig, axes


def labelled_iuv_picture(image: np.ndarray, iuv: np.ndarray, title: str) -> np.ndarray:
    """The image with predicted parts at the input's own resolution (one picture pixel per image pixel), titled,
    with the legend of the parts present."""
    fig, (ax,) = _native_panels(image, 1, side_inches=2.2)
    ax.imshow(overlay_parts(image, iuv), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    legend_ax = fig.add_axes((ax.get_position().x1 + 0.01, 0.0, 0.99 - ax.get_position().x1, ax.get_position().y1))
    _parts_legend(legend_ax, iuv[0], 7)
    return _to_array(fig)


def contour_picture(image: np.ndarray, iuv: np.ndarray, title: str) -> np.ndarray:
    """U and V contours of the prediction over the image (thesis Fig. 11 style), each panel at the input's own
    resolution, with colour bars."""
    fig, axes = _native_panels(image, 2, side_inches=1.1)
    for ax, channel, name in ((axes[0], 1, "U"), (axes[1], 2, "V")):
        _contours(ax, image, iuv, channel)
        ax.set_title(f"{title}: {name} contours", fontsize=9)
        ax.axis("off")
        box = ax.get_position()
        bar = fig.add_axes((box.x1 + 0.005, box.y0 + 0.05 * box.height, 0.012, 0.9 * box.height))
        mappable = plt.cm.ScalarMappable(cmap="jet", norm=plt.Normalize(0, 1))
        fig.colorbar(mappable, cax=bar).set_label(f"{name} (0..1)", fontsize=7)
    return _to_array(fig)


def loss_curves(csv_files: list[pathlib.Path]) -> np.ndarray | None:
    """Training losses (total and each term) against the step, from the run's CSV logs (a resumed run has several;
    later files win on repeated steps); None when no loss was logged."""
    series: dict[str, dict[int, float]] = {}
    for path in csv_files:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                step = row.get("step")
                for key, value in row.items():
                    if key.startswith("train/") and value not in ("", None) and step not in ("", None):
                        series.setdefault(key.removeprefix("train/"), {})[int(step)] = float(value)
    if not series:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), dpi=90)
    for name, points in sorted(series.items()):
        steps = sorted(points)
        target = axes[0] if name == "loss" else axes[1]
        target.plot(steps, [points[s] for s in steps], label=name, linewidth=1)
    axes[0].set_title("total training loss", fontsize=9)
    axes[1].set_title("loss terms (weighted as trained)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _to_array(fig)
