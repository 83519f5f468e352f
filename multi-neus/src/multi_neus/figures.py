"""Labelled picture grids (title, row and column captions) written as PNG."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from shared_utils.io.atomic import atomic_path  # noqa: E402

CELL_INCHES = 1.8


def labelled_grid(rows: dict[str, list[np.ndarray]], columns: list[str], title: str) -> Figure:
    """One image per cell; ``rows`` maps a row caption (may be empty) to its images, ``columns`` captions columns."""
    ncols = max(len(images) for images in rows.values())
    figure, axes = plt.subplots(len(rows), ncols, figsize=(CELL_INCHES * ncols + 0.8, CELL_INCHES * len(rows) + 0.6),
                                squeeze=False)
    for r, (row_caption, images) in enumerate(rows.items()):
        for c in range(ncols):
            axis = axes[r, c]
            axis.set_xticks([])
            axis.set_yticks([])
            if c < len(images):
                axis.imshow(np.clip(images[c], 0, 1), interpolation="nearest")
            else:
                axis.set_axis_off()
            if r == 0 and c < len(columns):
                axis.set_title(columns[c], fontsize=8)
            if c == 0 and row_caption:
                axis.set_ylabel(row_caption, fontsize=8)
    # Narrow grids wrap the title instead of cutting it at the figure's edge.
    figure.suptitle(textwrap.fill(title, width=max(30, 24 * ncols)), fontsize=9)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
