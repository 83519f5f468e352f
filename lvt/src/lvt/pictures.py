"""Labelled pictures of videos: rows of frames with a caption per row and per column, priming frames marked."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from shared_utils.io import atomic_write

PRIMED_COLOUR = "#2ca02c"
GENERATED_COLOUR = "#ff7f0e"
PRIMED_RGB = (44, 160, 44)
GENERATED_RGB = (255, 127, 14)


def video_rows_figure(path: Path, rows: list[tuple[str, np.ndarray, bool]], primed: int, title: str) -> None:
    """One labelled row per ``(label, uint8 video (T, H, W, 3), generated)``; column ``t`` is frame ``t``. In rows
    with ``generated`` set, the ``primed`` real frames get a green border and the generated ones an orange one."""
    frames = rows[0][1].shape[0]
    width = max(4.5, 1.4 + 0.9 * frames)
    title = textwrap.fill(title, width=int(width * 12))
    title_inches = 0.2 * (title.count("\n") + 1) + 0.15
    height = title_inches + 0.85 * len(rows) + 0.25
    # "compressed" packs fixed-aspect images without the gaps tight_layout leaves
    figure = Figure(figsize=(width, height), dpi=100, layout="compressed")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), frames, squeeze=False)
    for r, (label, video, generated) in enumerate(rows):
        for t in range(frames):
            axis = axes[r, t]
            axis.imshow(video[t], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if generated:
                colour = PRIMED_COLOUR if t < primed else GENERATED_COLOUR
                for spine in axis.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(2.5)
            if r == 0:
                axis.set_title(f"t={t}" + (" (real)" if t < primed else ""), fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(title, fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def comparison_rows(real: np.ndarray, other: np.ndarray, other_label: str, generated: bool):
    """Rows alternating ground truth and ``other`` per video, labelled ``video i: ...``."""
    rows = []
    for index, (truth, candidate) in enumerate(zip(real, other, strict=True)):
        rows.append((f"video {index}\nground truth", truth, False))
        rows.append((f"video {index}\n{other_label}", candidate, generated))
    return rows


def _label_strip(lines: list[str], height: int, width: int, colour=(255, 255, 255)) -> np.ndarray:
    strip = np.zeros((height, width, 3), dtype=np.uint8)
    scale = 0.35 if height < 48 else 0.45
    for index, line in enumerate(lines):
        y = int(height * (index + 1) / (len(lines) + 1)) + 4
        cv2.putText(strip, line, (3, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return strip


def labelled_animation(real: np.ndarray, generated: np.ndarray, primed: int) -> np.ndarray:
    """uint8 (T, H', W', 3): the ground truth videos side by side on top, the samples below, each row labelled on
    the left; the lower label says per frame whether it is a real priming frame or generated."""
    frames, height = real.shape[1], real.shape[2]
    top = np.concatenate(list(real), axis=2)
    bottom = np.concatenate(list(generated), axis=2)
    width = 96
    out = []
    for t in range(frames):
        kind = ("real (primed)", PRIMED_RGB) if t < primed else ("generated", GENERATED_RGB)
        left = np.concatenate([_label_strip(["ground truth", f"frame {t}"], height, width),
                               _label_strip(["sampled", kind[0]], height, width, kind[1])], axis=0)
        out.append(np.concatenate([left, np.concatenate([top[t], bottom[t]], axis=0)], axis=1))
    return np.stack(out)
