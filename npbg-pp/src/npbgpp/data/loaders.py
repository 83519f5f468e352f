"""Loaders of real data sets into SceneData (cameras read with shared_utils.io camera formats).

- NeRF-Synthetic: ``transforms_{train,val,test}.json`` + a point cloud (``points.ply`` by default); train and val
  frames are input views, test frames hold-out frames; RGBA images are composited on ``data.background`` (white,
  as the reference evaluates).
- DTU in the IDR layout: ``image/``, ``mask/``, ``cameras.npz`` (world_mat_i, scale_mat_i), ``points.ply``;
  ``data.holdout_frame_ids`` are hold-out frames; outside the masks the image is ``data.background`` (ones).
- ScanNet-style: ``full.ply``, ``intrinsics.npy``, ``extrinsics.npy`` (w2c), ``images/<i>.jpg``;
  ``data.holdout_frame_ids`` are hold-out frames.

Each loader takes the whole ``data`` config. ``*_frames`` give a ``SceneFrames`` that reads one image at a time
(``npbgpp build``: memory flat in the number of views); ``load_*`` read the whole scene into a ``SceneData``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from shared_utils.cameras import scale_intrinsics
from shared_utils.errors import InputError
from shared_utils.io import read_image, read_nerf_transforms, read_neus_cameras, read_point_cloud, read_scannet_style

from npbgpp.config import DataConfig
from npbgpp.data.scene import SceneData, SceneFrames, subsample_points

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff"}


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _scaled_intrinsics(intrinsics: np.ndarray, scale: float) -> np.ndarray:
    return scale_intrinsics(torch.from_numpy(intrinsics), scale, scale).numpy()


def _background(data: DataConfig) -> np.ndarray:
    colour = np.asarray(data.background, dtype=np.float32)
    if colour.shape != (3,) or not np.isfinite(colour).all() or colour.min() < 0 or colour.max() > 1:
        raise InputError(f"data.background must be three numbers in [0, 1] (RGB), got {list(data.background)}")
    return colour


def composite(image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``alpha * image + (1 - alpha) * background`` for (H, W, 3) images and (H, W, 1) alpha or masks."""
    return image * alpha + (1.0 - alpha) * background


def _rgb_on_background(path: Path, background: np.ndarray) -> np.ndarray:
    image = read_image(path, channels=None)
    if image.shape[-1] == 4:
        return composite(image[..., :3], image[..., 3:], background)
    if image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return image[..., :3]


def holdout_mask(count: int, frame_ids: list[int], scene: str) -> np.ndarray:
    """(count,) booleans, True at ``frame_ids``; an InputError naming the scene for ids beyond its frames."""
    beyond = [index for index in frame_ids if not 0 <= index < count]
    if beyond:
        raise InputError(f"scene '{scene}' has {count} frames; data.holdout_frame_ids {beyond} do not exist")
    mask = np.zeros(count, dtype=bool)
    mask[list(frame_ids)] = True
    return mask


def _sorted_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"image folder '{folder}' does not exist")

    def key(path: Path):
        return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)

    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=key)
    if not files:
        raise InputError(f"image folder '{folder}' holds no images")
    return files


def _cloud(path: Path, max_points: int | None) -> np.ndarray:
    points = read_point_cloud(path).points
    return subsample_points(torch.from_numpy(points), max_points).numpy()


def nerf_synthetic_frames(folder, data: DataConfig, point_cloud=None) -> SceneFrames:
    folder = Path(folder)
    background = _background(data)
    splits = []
    for split, is_holdout in (("train", False), ("val", False), ("test", True)):
        path = folder / f"transforms_{split}.json"
        if path.is_file():
            splits.append((read_nerf_transforms(path), is_holdout))
    if not splits:
        raise InputError(f"NeRF-Synthetic scene '{folder}' has no transforms_*.json")
    paths, intrinsics, w2c, holdout = [], [], [], []
    for cameras, is_holdout in splits:
        for index, path in enumerate(cameras.image_paths):
            paths.append(path)
            intrinsics.append(_scaled_intrinsics(cameras.intrinsics[index], data.image_scale))
            w2c.append(np.linalg.inv(cameras.c2w[index]))
            holdout.append(is_holdout)

    def read_frame(index: int) -> np.ndarray:
        return _resize(_rgb_on_background(paths[index], background), data.image_scale)

    cloud_path = Path(point_cloud) if point_cloud else folder / "points.ply"
    return SceneFrames.from_numpy(folder.name, read_frame, np.stack(intrinsics), np.stack(w2c),
                                  _cloud(cloud_path, data.max_points), np.array(holdout))


def load_nerf_synthetic(folder, data: DataConfig, point_cloud=None) -> SceneData:
    return nerf_synthetic_frames(folder, data, point_cloud).load()


def dtu_idr_frames(folder, data: DataConfig, point_cloud=None) -> SceneFrames:
    folder = Path(folder)
    background = _background(data)
    cameras = read_neus_cameras(folder / "cameras.npz")
    image_files = _sorted_images(folder / "image")
    if len(image_files) != len(cameras.c2w):
        raise InputError(f"DTU scene '{folder}' has {len(image_files)} images but {len(cameras.c2w)} cameras")
    mask_files = _sorted_images(folder / "mask") if data.apply_masks and (folder / "mask").is_dir() else None
    if mask_files is not None and len(mask_files) != len(image_files):
        raise InputError(f"DTU scene '{folder}' has {len(image_files)} images but {len(mask_files)} masks")

    def read_frame(index: int) -> np.ndarray:
        path = image_files[index]
        image = read_image(path, channels=3)
        if mask_files is not None:
            mask = read_image(mask_files[index], channels=1)
            if mask.shape[:2] != image.shape[:2]:
                raise InputError(f"mask '{mask_files[index]}' is {mask.shape[1]}x{mask.shape[0]} but its image "
                                 f"'{path}' is {image.shape[1]}x{image.shape[0]}")
            image = composite(image, (mask > 0.5).astype(np.float32), background)
        return _resize(image, data.image_scale)

    intrinsics = np.stack([_scaled_intrinsics(k, data.image_scale) for k in cameras.intrinsics])
    holdout = holdout_mask(len(image_files), data.holdout_frame_ids, folder.name)
    cloud_path = Path(point_cloud) if point_cloud else folder / "points.ply"
    return SceneFrames.from_numpy(folder.name, read_frame, intrinsics, np.linalg.inv(cameras.c2w),
                                  _cloud(cloud_path, data.max_points), holdout)


def load_dtu_idr(folder, data: DataConfig, point_cloud=None) -> SceneData:
    return dtu_idr_frames(folder, data, point_cloud).load()


def scannet_style_frames(folder, data: DataConfig) -> SceneFrames:
    folder = Path(folder)
    cameras = read_scannet_style(folder)
    image_files = _sorted_images(folder / "images")
    if len(image_files) != len(cameras.w2c):
        raise InputError(f"ScanNet scene '{folder}' has {len(image_files)} images but {len(cameras.w2c)} poses")

    def read_frame(index: int) -> np.ndarray:
        image = read_image(image_files[index], channels=3)
        if image.shape[:2] != (cameras.height, cameras.width):
            image = cv2.resize(image, (cameras.width, cameras.height), interpolation=cv2.INTER_AREA)
        return _resize(image, data.image_scale)

    intrinsics = np.repeat(_scaled_intrinsics(cameras.intrinsics, data.image_scale)[None], len(image_files), axis=0)
    holdout = holdout_mask(len(image_files), data.holdout_frame_ids, folder.name)
    return SceneFrames.from_numpy(folder.name, read_frame, intrinsics, cameras.w2c,
                                  _cloud(folder / "full.ply", data.max_points), holdout)


def load_scannet_style(folder, data: DataConfig) -> SceneData:
    return scannet_style_frames(folder, data).load()
