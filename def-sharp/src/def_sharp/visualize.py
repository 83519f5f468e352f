"""Pictures: patch grids (input | truth | DEF | baseline) and colour maps of distance fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shared_utils.io import colorize, image_grid, write_image

DISTANCE_COLOUR_MAX = 0.25  # colour scale of distance maps (beyond it everything reads as "far from features")


def distance_colours(distance: np.ndarray, vmax: float = DISTANCE_COLOUR_MAX) -> np.ndarray:
    """(...,) distances -> (..., 3) colours: near features bright (inverted magma)."""
    return colorize(np.clip(vmax - np.asarray(distance, dtype=np.float64), 0.0, vmax), vmin=0.0, vmax=vmax,
                    cmap="magma")


def patch_picture(path: Path, inputs: np.ndarray, truth: np.ndarray, masks: np.ndarray,
                  predictions: list[np.ndarray], upscale: int = 3) -> None:
    """One row per patch: normalised depth, true distance, then each prediction; off-surface pixels grey."""
    tiles = []
    for index in range(len(inputs)):
        mask = masks[index]
        depth = np.where(mask, inputs[index], np.nan)
        row = [colorize(depth, cmap="viridis")]
        for field in [truth[index], *(p[index] for p in predictions)]:
            row.append(np.where(mask[..., None], distance_colours(field), 0.5))
        tiles.extend(np.kron(tile, np.ones((upscale, upscale, 1))) for tile in row)
    write_image(path, image_grid(tiles, ncols=2 + len(predictions)))


def curves_picture(path: Path, points: np.ndarray, extracted: list[np.ndarray], truth: list[np.ndarray]) -> None:
    """Extracted curves (red) and true curves (black, dashed) over a grey subsample of the shape's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from shared_utils.io import atomic_write

    figure = plt.figure(figsize=(6, 6))
    axes = figure.add_subplot(projection="3d")
    sample = points[:: max(1, len(points) // 4000)]
    axes.scatter(*sample.T, s=0.5, c="0.7", alpha=0.4)
    for line in truth:
        axes.plot(*line.T, "k--", linewidth=0.8)
    for line in extracted:
        axes.plot(*line.T, "r-", linewidth=1.5)
    axes.set_box_aspect(np.ptp(points, axis=0) + 1e-9)
    axes.set_axis_off()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
