"""Camera files of common datasets, read into OpenCV-convention float64 numpy arrays."""

from __future__ import annotations

import math
import pathlib
import re
import warnings
import zipfile
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..cameras import convert_c2w
from ..errors import InputError
from .atomic import atomic_write, load_json


def _existing(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"{what} '{path}' not found")
    return path


def _matrix(value, shape: tuple, path, name: str) -> np.ndarray:
    try:
        value = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} in '{path}' is not numeric") from exc
    if value.shape != shape:
        raise InputError(f"{name} in '{path}' has shape {value.shape}, expected {shape}")
    if not np.isfinite(value).all():
        raise InputError(f"{name} in '{path}' contains NaN or infinite values")
    return value


def _homogeneous(m: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[: m.shape[-2]] = m
    return out


@dataclass
class NeuSCameras:
    intrinsics: np.ndarray  # (N, 3, 3)
    c2w: np.ndarray  # (N, 4, 4), world frame of world_mat (NeuS' unit-sphere frame: inv(scale_mat) @ c2w)
    scale_mats: np.ndarray  # (N, 4, 4)


def read_neus_cameras(path) -> NeuSCameras:
    """NeuS ``cameras_sphere.npz`` / IDR ``cameras.npz``: world_mat_i = K [R | t], optional scale_mat_i."""
    path = _existing(path, "camera file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"camera file '{path}' is not a readable .npz ({type(exc).__name__})") from exc
    indices = sorted(int(m.group(1)) for key in arrays if (m := re.fullmatch(r"world_mat_(\d+)", key)))
    if not indices:
        raise InputError(f"camera file '{path}' has no world_mat_<i> entries")
    intrinsics, c2ws, scale_mats = [], [], []
    for i in indices:
        world = arrays[f"world_mat_{i}"]
        P = _matrix(world[:3] if np.shape(world) == (4, 4) else world, (3, 4), path, f"world_mat_{i}")
        K, R, t = cv2.decomposeProjectionMatrix(P)[:3]
        c2w = np.eye(4)
        c2w[:3, :3] = R.T
        c2w[:3, 3] = t[:3, 0] / t[3, 0]
        intrinsics.append(K / K[2, 2])
        c2ws.append(c2w)
        scale = arrays.get(f"scale_mat_{i}", np.eye(4))
        scale_mats.append(_matrix(scale, (4, 4), path, f"scale_mat_{i}"))
    return NeuSCameras(np.stack(intrinsics), np.stack(c2ws), np.stack(scale_mats))


def write_neus_cameras(path, intrinsics, w2c, scale_mats=None) -> None:
    """Write ``world_mat_i = K_i [R_i | t_i]`` and ``scale_mat_i`` (identity by default) as NeuS reads them."""
    intrinsics, w2c = np.asarray(intrinsics, np.float64), np.asarray(w2c, np.float64)
    n = len(w2c)
    if intrinsics.shape == (3, 3):
        intrinsics = np.broadcast_to(intrinsics, (n, 3, 3))
    scale_mats = np.broadcast_to(np.eye(4), (n, 4, 4)) if scale_mats is None else np.asarray(scale_mats, np.float64)
    for name, value, shape in (("intrinsics", intrinsics, (n, 3, 3)), ("w2c", w2c, (n, 4, 4)),
                               ("scale_mats", scale_mats, (n, 4, 4))):
        _matrix(value, shape, path, name)
    arrays = {}
    for i in range(n):
        arrays[f"world_mat_{i}"] = _homogeneous(intrinsics[i] @ w2c[i, :3])
        arrays[f"scale_mat_{i}"] = scale_mats[i]
    with atomic_write(path) as f:
        np.savez(f, **arrays)


DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


class DistortionWarning(UserWarning):
    """The camera file has lens distortion that the pinhole model used downstream does not apply."""


@dataclass
class NerfCameras:
    intrinsics: np.ndarray  # (N, 3, 3)
    c2w: np.ndarray  # (N, 4, 4) OpenCV convention
    image_paths: list[pathlib.Path]
    width: int
    height: int
    # (N, 6) in DISTORTION_KEYS order (nerfstudio's OPENCV/OPENCV_FISHEYE coefficients); None when all are zero.
    distortion: np.ndarray | None = None


def _image_size(path: pathlib.Path) -> tuple[int, int] | None:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    return None if image is None else (image.shape[1], image.shape[0])


def read_nerf_transforms(path, width: int | None = None, height: int | None = None) -> NerfCameras:
    """NeRF/Blender/nerfstudio ``transforms*.json``; OpenGL poses are returned in OpenCV convention.

    Focal lengths come from ``fl_x``/``fl_y`` (top level or per frame) or ``camera_angle_x``; the image size from
    ``w``/``h``, the arguments, or the first image. Paths without a suffix get ``.png`` (Blender scenes).
    """
    path = _existing(path, "transforms file")
    meta = load_json(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise InputError(f"transforms file '{path}' has no 'frames' list")
    image_paths, intrinsics, c2ws, distortion = [], [], [], []
    for i, frame in enumerate(meta["frames"]):
        if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
            raise InputError(f"frame {i} in '{path}' lacks 'file_path' or 'transform_matrix'")
        image = path.parent / frame["file_path"]
        image_paths.append(image if image.suffix else image.with_name(image.name + ".png"))
        c2ws.append(_matrix(frame["transform_matrix"], (4, 4), path, f"transform_matrix of frame {i}"))
    w = meta.get("w", width)
    h = meta.get("h", height)
    if w is None or h is None:
        size = _image_size(image_paths[0])
        if size is None:
            raise InputError(f"transforms file '{path}' gives no image size: pass width and height")
        w, h = size
    for i, frame in enumerate(meta["frames"]):
        entry = {**meta, **frame}
        if "fl_x" in entry:
            fx = entry["fl_x"]
        elif "camera_angle_x" in entry:
            fx = 0.5 * w / math.tan(0.5 * entry["camera_angle_x"])
        else:
            raise InputError(f"transforms file '{path}' has neither 'fl_x' nor 'camera_angle_x'")
        if "fl_y" in entry:
            fy = entry["fl_y"]
        elif "camera_angle_y" in entry:
            fy = 0.5 * h / math.tan(0.5 * entry["camera_angle_y"])
        else:
            fy = fx
        K = [[fx, 0, entry.get("cx", w / 2)], [0, fy, entry.get("cy", h / 2)], [0, 0, 1]]
        intrinsics.append(_matrix(K, (3, 3), path, f"intrinsics of frame {i}"))
        distortion.append(_matrix([entry.get(k, 0.0) for k in DISTORTION_KEYS], (6,), path,
                                  f"distortion of frame {i}"))
    c2w = convert_c2w(torch.from_numpy(np.stack(c2ws)), "opengl", "opencv").numpy()
    coefficients = np.stack(distortion)
    if not np.any(coefficients):
        coefficients = None
    else:
        used = [k for k, column in zip(DISTORTION_KEYS, coefficients.T, strict=True) if np.any(column)]
        warnings.warn(f"transforms file '{path}' has lens distortion ({', '.join(used)}) that pinhole rendering "
                      "ignores: undistort the images first (e.g. nerfstudio's or COLMAP's undistorter)",
                      DistortionWarning, stacklevel=2)
    return NerfCameras(np.stack(intrinsics), c2w, image_paths, int(w), int(h), coefficients)


@dataclass
class ColmapModel:
    intrinsics: dict[int, np.ndarray]  # camera id -> K (3, 3)
    sizes: dict[int, tuple[int, int]]  # camera id -> (width, height)
    images: list[tuple[str, int, np.ndarray]]  # (name, camera id, w2c (4, 4)) in file order


# Number of leading parameters that are fx, fy, cx, cy (or f, cx, cy) for each COLMAP camera model.
_COLMAP_MODELS = {"SIMPLE_PINHOLE": 3, "PINHOLE": 4, "SIMPLE_RADIAL": 3, "RADIAL": 3, "OPENCV": 4,
                  "FULL_OPENCV": 4, "SIMPLE_RADIAL_FISHEYE": 3, "OPENCV_FISHEYE": 4}


def _data_lines(path: pathlib.Path) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(path.read_text().splitlines(), 1) if not line.startswith("#")]


def read_colmap_text(folder) -> ColmapModel:
    """COLMAP text model (``cameras.txt``, ``images.txt``); distortion parameters are ignored with a warning."""
    folder = _existing(folder, "COLMAP model folder")
    cameras, images = _existing(folder / "cameras.txt", "COLMAP file"), _existing(folder / "images.txt", "COLMAP file")
    intrinsics, sizes, distorted = {}, {}, set()
    for n, line in _data_lines(cameras):
        if not line.strip():
            continue
        fields = line.split()
        try:
            cam_id, model, width, height = int(fields[0]), fields[1], int(fields[2]), int(fields[3])
            params = [float(p) for p in fields[4:]]
            count = _COLMAP_MODELS[model]
            fx, fy, cx, cy = params[:4] if count == 4 else (params[0], params[0], params[1], params[2])
        except (IndexError, ValueError, KeyError) as exc:
            raise InputError(f"line {n} of '{cameras}' is not a supported camera ({type(exc).__name__})") from exc
        if any(params[count:]):
            distorted.add(model)
        intrinsics[cam_id] = _matrix([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], (3, 3), cameras, f"camera {cam_id}")
        sizes[cam_id] = (width, height)
    if distorted:
        warnings.warn(f"{cameras}: distortion of {sorted(distorted)} cameras is ignored", stacklevel=2)
    records, lines, i = [], _data_lines(images), 0
    while i < len(lines):
        n, line = lines[i]
        if not line.strip():
            i += 1
            continue
        fields = line.split(maxsplit=9)
        try:
            qw, qx, qy, qz, tx, ty, tz = (float(v) for v in fields[1:8])
            cam_id, name = int(fields[8]), fields[9]
        except (IndexError, ValueError) as exc:
            raise InputError(f"line {n} of '{images}' is not an image record ({type(exc).__name__})") from exc
        if cam_id not in intrinsics:
            raise InputError(f"line {n} of '{images}' refers to camera {cam_id}, which is not in '{cameras}'")
        w2c = np.eye(4)
        w2c[:3, :3] = Rotation.from_quat([qx, qy, qz, qw]).as_matrix()
        w2c[:3, 3] = tx, ty, tz
        records.append((name, cam_id, _matrix(w2c, (4, 4), images, f"pose of image '{name}'")))
        i += 2  # the next line lists the image's 2D points and may be empty
    if not records:
        raise InputError(f"COLMAP file '{images}' lists no images")
    return ColmapModel(intrinsics, sizes, records)


@dataclass
class ScanNetCameras:
    intrinsics: np.ndarray  # (3, 3)
    width: int
    height: int
    w2c: np.ndarray  # (N, 4, 4)


def _load_npy(path: pathlib.Path, allow_pickle: bool = False):
    _existing(path, "camera file")
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"camera file '{path}' could not be read ({type(exc).__name__})") from exc


def read_scannet_style(folder) -> ScanNetCameras:
    """``intrinsics.npy`` (a pickled dict with K, height, width) and ``extrinsics.npy`` (N, 4, 4) w2c."""
    folder = _existing(folder, "camera folder")
    intr_path, extr_path = folder / "intrinsics.npy", folder / "extrinsics.npy"
    # The format stores a dict, which numpy can only keep as a pickled object array.
    meta = _load_npy(intr_path, allow_pickle=True)
    meta = meta.item() if isinstance(meta, np.ndarray) and meta.dtype == object and meta.shape == () else meta
    if not isinstance(meta, dict) or not {"K", "height", "width"} <= set(meta):
        raise InputError(f"camera file '{intr_path}' must hold a dict with K, height and width")
    K = _matrix(meta["K"], (3, 3), intr_path, "K")
    extrinsics = _load_npy(extr_path)
    if extrinsics.ndim == 3 and extrinsics.shape[1:] == (3, 4):
        extrinsics = np.stack([_homogeneous(m) for m in extrinsics])
    w2c = _matrix(extrinsics, (len(extrinsics), 4, 4), extr_path, "extrinsics")
    return ScanNetCameras(K, int(meta["width"]), int(meta["height"]), w2c)
