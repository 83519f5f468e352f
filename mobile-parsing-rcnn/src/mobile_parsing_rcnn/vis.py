"""Pictures: IUV images (part colours) and U/V contour plots over the image, as thesis Fig. 11."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .evaluation.metrics import paste_box_map  # noqa: E402


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


def iuv_to_rgb(iuv: np.ndarray) -> np.ndarray:
    """(3, H, W) IUV -> (H, W, 3) colours: hue from the part, brightness from U and V (background black)."""
    part = iuv[0].astype(np.int64)
    palette = plt.get_cmap("hsv")(np.linspace(0, 0.95, 25))[:, :3]
    palette[0] = 0
    rgb = palette[part] * (0.6 + 0.4 * iuv[1][..., None]) * (0.8 + 0.2 * iuv[2][..., None])
    return np.clip(rgb, 0, 1).astype(np.float32)


def overlay_parts(image: np.ndarray, iuv: np.ndarray) -> np.ndarray:
    """The image dimmed, with the part colours of :func:`iuv_to_rgb` over the foreground."""
    fg = iuv[0] > 0
    out = image * 0.5
    out[fg] = 0.2 * image[fg] + 0.8 * iuv_to_rgb(iuv)[fg]
    return out


def figure_panels(image: np.ndarray, iuv: np.ndarray, gt_iuv: np.ndarray | None = None) -> np.ndarray:
    """One row of panels: image | predicted IUV | U contours | V contours [| ground-truth IUV], as an RGB array."""
    panels = 4 + (gt_iuv is not None)
    fig, axes = plt.subplots(1, panels, figsize=(2.6 * panels, 2.6 * image.shape[0] / image.shape[1] + 0.3), dpi=80)
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(overlay_parts(image, iuv))
    axes[1].set_title("predicted I (parts)", fontsize=8)
    fg = iuv[0] > 0
    for ax, channel, name in ((axes[2], 1, "U"), (axes[3], 2, "V")):
        ax.imshow(image * 0.6)
        values = np.where(fg, iuv[channel], np.nan)
        if fg.any():
            ax.contour(values, levels=np.linspace(0.05, 0.95, 10), cmap="jet", linewidths=0.8)
        ax.set_title(f"{name} contours", fontsize=8)
    if gt_iuv is not None:
        axes[4].imshow(overlay_parts(image, gt_iuv))
        axes[4].set_title("ground truth I", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout(pad=0.2)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
    plt.close(fig)
    return rgb
