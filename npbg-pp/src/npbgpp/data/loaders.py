"""Loaders of real data sets into SceneData (cameras read with shared_utils.io camera formats).

- NeRF-Synthetic: ``transforms_{train,val,test}.json`` + a point cloud (``points.ply`` by default); train frames
  are input views, test frames hold-out frames; RGBA images are composited on black.
- DTU in the IDR layout: ``image/``, ``mask/``, ``cameras.npz`` (world_mat_i, scale_mat_i), ``points.ply``;
  every ``holdout_every``-th frame is a hold-out frame.
- ScanNet-style: ``full.ply``, ``intrinsics.npy``, ``extrinsics.npy`` (w2c), ``images/<i>.jpg``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from shared_utils.cameras import scale_intrinsics
from shared_utils.errors import InputError
from shared_utils.io import read_image, read_nerf_transforms, read_neus_cameras, read_point_cloud, read_scannet_style

from npbgpp.data.scene import SceneData, scene_from_numpy, subsample_points

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff"}


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _stack_images(images: list[np.ndarray], what: str) -> np.ndarray:
    sizes = {image.shape[:2] for image in images}
    if len(sizes) > 1:
        raise InputError(f"{what} images have differing sizes {sorted(sizes)}; resize them to one size first")
    return np.stack(images)


def _scaled_intrinsics(intrinsics: np.ndarray, scale: float) -> np.ndarray:
    return scale_intrinsics(torch.from_numpy(intrinsics), scale, scale).numpy()


def _rgb_on_black(path: Path) -> np.ndarray:
    image = read_image(path, channels=None)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 4:
        return image[..., :3] * image[..., 3:]
    if image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return image[..., :3]


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


def load_nerf_synthetic(folder, point_cloud=None, image_scale: float = 1.0, max_points: int | None = None) -> SceneData:
    folder = Path(folder)
    splits = []
    for split, is_holdout in (("train", False), ("val", False), ("test", True)):
        path = folder / f"transforms_{split}.json"
        if path.is_file():
            splits.append((read_nerf_transforms(path), is_holdout))
    if not splits:
        raise InputError(f"NeRF-Synthetic scene '{folder}' has no transforms_*.json")
    images, intrinsics, w2c, holdout = [], [], [], []
    for cameras, is_holdout in splits:
        for index, path in enumerate(cameras.image_paths):
            images.append(_resize(_rgb_on_black(path), image_scale))
            intrinsics.append(_scaled_intrinsics(cameras.intrinsics[index], image_scale))
            w2c.append(np.linalg.inv(cameras.c2w[index]))
            holdout.append(is_holdout)
    cloud_path = Path(point_cloud) if point_cloud else folder / "points.ply"
    return scene_from_numpy(folder.name, _stack_images(images, f"scene '{folder.name}'"), np.stack(intrinsics),
                            np.stack(w2c), _cloud(cloud_path, max_points), np.array(holdout))


def load_dtu_idr(folder, point_cloud=None, image_scale: float = 1.0, holdout_every: int = 8,
                 apply_masks: bool = True, max_points: int | None = None) -> SceneData:
    folder = Path(folder)
    cameras = read_neus_cameras(folder / "cameras.npz")
    image_files = _sorted_images(folder / "image")
    if len(image_files) != len(cameras.c2w):
        raise InputError(f"DTU scene '{folder}' has {len(image_files)} images but {len(cameras.c2w)} cameras")
    mask_files = _sorted_images(folder / "mask") if apply_masks and (folder / "mask").is_dir() else None
    if mask_files is not None and len(mask_files) != len(image_files):
        raise InputError(f"DTU scene '{folder}' has {len(image_files)} images but {len(mask_files)} masks")
    images = []
    for index, path in enumerate(image_files):
        image = read_image(path, channels=3)
        if mask_files is not None:
            image = image * (read_image(mask_files[index], channels=1)[..., :1] > 0.5)
        images.append(_resize(image, image_scale))
    intrinsics = np.stack([_scaled_intrinsics(k, image_scale) for k in cameras.intrinsics])
    holdout = np.arange(len(images)) % holdout_every == holdout_every // 2
    cloud_path = Path(point_cloud) if point_cloud else folder / "points.ply"
    return scene_from_numpy(folder.name, _stack_images(images, f"scene '{folder.name}'"), intrinsics,
                            np.linalg.inv(cameras.c2w), _cloud(cloud_path, max_points), holdout)


def load_scannet_style(folder, image_scale: float = 1.0, holdout_every: int = 10,
                       max_points: int | None = None) -> SceneData:
    folder = Path(folder)
    cameras = read_scannet_style(folder)
    image_files = _sorted_images(folder / "images")
    if len(image_files) != len(cameras.w2c):
        raise InputError(f"ScanNet scene '{folder}' has {len(image_files)} images but {len(cameras.w2c)} poses")
    images = []
    for path in image_files:
        image = read_image(path, channels=3)
        if image.shape[:2] != (cameras.height, cameras.width):
            image = cv2.resize(image, (cameras.width, cameras.height), interpolation=cv2.INTER_AREA)
        images.append(_resize(image, image_scale))
    intrinsics = np.repeat(_scaled_intrinsics(cameras.intrinsics, image_scale)[None], len(images), axis=0)
    holdout = np.arange(len(images)) % holdout_every == holdout_every // 2
    return scene_from_numpy(folder.name, _stack_images(images, f"scene '{folder.name}'"), intrinsics, cameras.w2c,
                            _cloud(folder / "full.ply", max_points), holdout)
