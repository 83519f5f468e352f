"""Scenes written in the real data sets' file layouts (NeRF-Synthetic, DTU/IDR, ScanNet-style) from a SceneData."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from shared_utils.io import write_image, write_neus_cameras, write_point_cloud

from npbgpp.data.scene import SceneData

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def _hwc(scene: SceneData, index: int) -> np.ndarray:
    return scene.images[index].permute(1, 2, 0).numpy()


def write_nerf_synthetic(scene: SceneData, folder: Path, alpha: np.ndarray | None = None) -> Path:
    """``transforms_{train,test}.json`` (OpenGL c2w, camera_angle_x), RGBA PNGs, ``points.ply``; hold-out frames go
    to the test split. ``alpha`` (V, H, W) defaults to opaque."""
    folder = Path(folder)
    focal = float(scene.intrinsics[0, 0, 0])
    angle = 2.0 * np.arctan(0.5 * scene.width / focal)
    splits = {"train": [], "test": []}
    c2w = np.linalg.inv(scene.w2c.double().numpy()) @ OPENCV_TO_OPENGL
    for index in range(len(scene.images)):
        split = "test" if bool(scene.holdout[index]) else "train"
        name = f"{split}/r_{index}"
        opacity = np.ones(scene.images.shape[-2:]) if alpha is None else alpha[index]
        write_image(folder / f"{name}.png", np.concatenate([_hwc(scene, index), opacity[..., None]], axis=-1))
        splits[split].append({"file_path": f"./{name}", "transform_matrix": c2w[index].tolist()})
    for split, frames in splits.items():
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    write_point_cloud(folder / "points.ply", scene.points.numpy())
    return folder


def write_dtu(scene: SceneData, folder: Path, masks: np.ndarray | None = None) -> Path:
    """IDR layout: ``image/NNN.png``, ``mask/NNN.png``, ``cameras.npz`` (world_mat_i, scale_mat_i), ``points.ply``."""
    folder = Path(folder)
    for index in range(len(scene.images)):
        write_image(folder / "image" / f"{index:03d}.png", _hwc(scene, index))
        mask = np.ones(scene.images.shape[-2:]) if masks is None else masks[index]
        write_image(folder / "mask" / f"{index:03d}.png", np.repeat(mask[..., None], 3, axis=-1))
    write_neus_cameras(folder / "cameras.npz", scene.intrinsics.numpy(), scene.w2c.numpy())
    write_point_cloud(folder / "points.ply", scene.points.numpy())
    return folder


def write_scannet(scene: SceneData, folder: Path) -> Path:
    """``images/<i>.jpg``, ``intrinsics.npy`` (dict K, height, width), ``extrinsics.npy`` (w2c), ``full.ply``."""
    folder = Path(folder)
    for index in range(len(scene.images)):
        write_image(folder / "images" / f"{index}.jpg", _hwc(scene, index))
    meta = {"K": scene.intrinsics[0].numpy().astype(np.float64), "height": scene.height, "width": scene.width}
    np.save(folder / "intrinsics.npy", np.array(meta, dtype=object), allow_pickle=True)
    np.save(folder / "extrinsics.npy", scene.w2c.numpy().astype(np.float64))
    write_point_cloud(folder / "full.ply", scene.points.numpy())
    return folder


def write_empty_ply(path: Path) -> Path:
    path.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
                    "end_header\n")
    return path
