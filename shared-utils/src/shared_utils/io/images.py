"""Image files as float32 arrays in [0, 1] (8- and 16-bit aware), grids and colour maps."""

from __future__ import annotations

import pathlib

import cv2
import matplotlib
import numpy as np

from ..errors import InputError
from .atomic import atomic_write


def read_image(path, channels: int | None = 3) -> np.ndarray:
    """(H, W, C) float32 in [0, 1]; ``channels`` 3 gives RGB, 1 gray, None the file's own channels."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"image '{path}' not found")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"image '{path}' could not be decoded")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535.0
    else:
        image = image.astype(np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] >= 3:  # OpenCV stores BGR(A)
        image = np.concatenate([image[..., 2::-1], image[..., 3:]], axis=-1)
    if channels is None:
        return np.ascontiguousarray(image)
    if channels == 3:
        return np.ascontiguousarray(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3])
    if channels == 1:
        if image.shape[-1] == 1:
            return image
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)[..., None]
    raise InputError(f"channels={channels} is not supported, expected 1, 3 or None")


def _to_integer(image: np.ndarray, bit_depth: int) -> np.ndarray:
    dtype = {8: np.uint8, 16: np.uint16}.get(bit_depth)
    if dtype is None:
        raise InputError(f"bit_depth={bit_depth} is not supported, expected 8 or 16")
    if image.dtype == dtype:
        return image
    if image.dtype == np.uint8:
        return image.astype(np.uint16) * 257
    if image.dtype == np.uint16:
        return (image.astype(np.float32) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    scale = np.iinfo(dtype).max
    return (np.clip(image.astype(np.float64), 0.0, 1.0) * scale + 0.5).astype(dtype)


def write_image(path, image, bit_depth: int = 8) -> None:
    """Write (H, W) or (H, W, 1|3|4) float [0, 1] or uint8/uint16 pixels, atomically; format from the suffix."""
    path = pathlib.Path(path)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise InputError(f"image for '{path}' has shape {image.shape}, expected (H, W) or (H, W, 1|3|4)")
    image = _to_integer(image, bit_depth)
    if image.shape[-1] >= 3:
        image = np.concatenate([image[..., 2::-1], image[..., 3:]], axis=-1)
    ok, encoded = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image))
    if not ok:
        raise InputError(f"image '{path}' cannot be encoded as {path.suffix} with {bit_depth} bits")
    with atomic_write(path) as f:
        f.write(encoded.tobytes())


def image_grid(images, ncols: int, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile equally sized (H, W, C) images row by row into one image with ``pad`` pixels between them."""
    images = [np.asarray(im, dtype=np.float32) for im in images]
    if not images:
        raise InputError("image_grid needs at least one image")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise InputError(f"image_grid needs images of one size, got {sorted(shapes)}")
    h, w, c = images[0].shape
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    grid = np.full((nrows * h + (nrows - 1) * pad, ncols * w + (ncols - 1) * pad, c), pad_value, np.float32)
    for i, im in enumerate(images):
        r, col = divmod(i, ncols)
        grid[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = im
    return grid


def colorize(values, vmin=None, vmax=None, cmap: str = "viridis") -> np.ndarray:
    """Map scalars (...) to RGB (..., 3) float32 with a matplotlib colour map; NaN becomes grey."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if vmin is None:
        vmin = float(values[finite].min()) if finite.any() else 0.0
    if vmax is None:
        vmax = float(values[finite].max()) if finite.any() else 1.0
    scaled = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    rgb = matplotlib.colormaps[cmap](np.where(finite, scaled, 0.0))[..., :3].astype(np.float32)
    rgb[~finite] = 0.5
    return rgb
