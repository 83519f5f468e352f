"""Scene loaders: NeuS/IDR scene folders and H3DS-style folders (the same plus ground-truth mesh and regions).

NeuS/IDR: ``image/*.png|jpg``, ``mask/*.png`` (optional), ``cameras_sphere.npz`` or ``cameras.npz``.
H3DS-style extras: ``mesh_gt.ply`` or ``full_head.obj`` (ground truth, world units), ``face_vertices.npy``
(per-vertex boolean face label; when absent, the face is the ball of ``face_radius`` around the nose-tip landmark),
``landmarks.json`` ({"names": [...], "points": [[x, y, z], ...]}, world units).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from shared_utils.errors import InputError, check_finite
from shared_utils.io import load_arrays, load_json, read_image, read_mesh, read_neus_cameras

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MESH_NAMES = ("mesh_gt.ply", "full_head.obj", "mesh_gt.obj")


@dataclass
class Scene:
    name: str
    images: np.ndarray  # (V, H, W, 3) float32 in [0, 1]
    masks: np.ndarray | None  # (V, H, W) float32 in [0, 1]
    intrinsics: np.ndarray  # (V, 3, 3)
    c2w: np.ndarray  # (V, 4, 4) world, OpenCV
    scale_mat: np.ndarray  # (4, 4) normalised -> world
    gt_mesh: trimesh.Trimesh | None = None
    face_vertices: np.ndarray | None = None  # (N,) bool over gt_mesh vertices
    landmarks: np.ndarray | None = None  # (L, 3) world
    landmark_names: tuple[str, ...] | None = None

    @property
    def num_views(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.images.shape[1], self.images.shape[2]

    def normalized_c2w(self) -> np.ndarray:
        """Camera poses in the unit-sphere space x_norm = scale_mat^-1 x_world."""
        return normalize_poses(self.c2w, self.scale_mat)

    def subset(self, views: list[int]) -> Scene:
        bad = [v for v in views if not 0 <= v < self.num_views]
        if bad:
            raise InputError(f"scene '{self.name}' has {self.num_views} views, view indices {bad} are out of range")
        return Scene(
            self.name, self.images[views], None if self.masks is None else self.masks[views],
            self.intrinsics[views], self.c2w[views], self.scale_mat, self.gt_mesh, self.face_vertices,
            self.landmarks, self.landmark_names,
        )


def check_scale_mat(scale_mat: np.ndarray, name: str) -> float:
    """Scale matrices must be a uniform scale plus a translation; returns the scale."""
    linear = scale_mat[:3, :3]
    scale = float(linear[0, 0])
    if scale <= 0 or not np.allclose(linear, np.eye(3) * scale, rtol=1e-5, atol=1e-8) or not np.allclose(
        scale_mat[3], [0, 0, 0, 1]
    ):
        raise InputError(f"scale matrix of {name} is not a positive uniform scale plus translation")
    return scale


def normalize_poses(c2w: np.ndarray, scale_mat: np.ndarray) -> np.ndarray:
    scale = scale_mat[0, 0]
    out = c2w.copy()
    out[..., :3, 3] = (c2w[..., :3, 3] - scale_mat[:3, 3]) / scale
    return out


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def load_scene(folder: str | Path, downscale: int = 1, face_radius: float = 0.095) -> Scene:
    """Load a NeuS/IDR or H3DS-style scene folder (see module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"scene folder '{folder}' does not exist")
    image_paths = _list_images(folder / "image")
    if not image_paths:
        raise InputError(f"scene folder '{folder}' has no images under image/")
    camera_file = next((folder / n for n in ("cameras_sphere.npz", "cameras.npz") if (folder / n).exists()), None)
    if camera_file is None:
        raise InputError(f"scene folder '{folder}' has neither cameras_sphere.npz nor cameras.npz")
    cameras = read_neus_cameras(camera_file)
    if cameras.c2w.shape[0] < len(image_paths):
        raise InputError(f"{camera_file} holds {cameras.c2w.shape[0]} cameras for {len(image_paths)} images")
    images = _stack_same_size([read_image(p, channels=3) for p in image_paths], image_paths, "image")
    mask_paths = _list_images(folder / "mask")
    masks = None
    if mask_paths:
        if len(mask_paths) != len(image_paths):
            raise InputError(f"scene '{folder}' has {len(image_paths)} images but {len(mask_paths)} masks")
        mask_list = [read_image(p, channels=1)[..., 0] for p in mask_paths]
        for path, mask in zip(mask_paths, mask_list, strict=True):
            if mask.shape != images.shape[1:3]:
                raise InputError(f"mask '{path}' size {mask.shape} does not match the image size {images.shape[1:3]}")
        masks = np.stack(mask_list)
    intrinsics = cameras.intrinsics[: len(image_paths)].copy()
    c2w = cameras.c2w[: len(image_paths)]
    scale_mat = cameras.scale_mats[0]
    check_scale_mat(scale_mat, str(camera_file))
    if downscale > 1:
        images, masks, intrinsics = _downscale(images, masks, intrinsics, downscale)
    centres = np.linalg.norm(normalize_poses(c2w, scale_mat)[:, :3, 3], axis=-1)
    if np.any(centres <= 1.0):
        raise InputError(
            f"cameras of '{folder}' cannot be normalised into the unit sphere: "
            f"{int(np.sum(centres <= 1.0))} camera centres lie inside the scale_mat sphere"
        )
    scene = Scene(folder.name, images, masks, intrinsics, c2w, scale_mat)
    _load_ground_truth(folder, scene, face_radius)
    return scene


def _stack_same_size(arrays: list[np.ndarray], paths: list[Path], what: str) -> np.ndarray:
    for path, array in zip(paths, arrays, strict=True):
        if array.shape != arrays[0].shape:
            raise InputError(f"{what} '{path}' has size {array.shape[:2]}, the first has {arrays[0].shape[:2]}")
    return np.stack(arrays)


def _downscale(images, masks, intrinsics, factor):
    v, h, w, _ = images.shape
    h2, w2 = h // factor, w // factor
    images = images[:, : h2 * factor, : w2 * factor].reshape(v, h2, factor, w2, factor, 3).mean((2, 4))
    if masks is not None:
        masks = masks[:, : h2 * factor, : w2 * factor].reshape(v, h2, factor, w2, factor).mean((2, 4))
    intrinsics = intrinsics.copy()
    intrinsics[:, :2] /= factor
    return images.astype(np.float32), None if masks is None else masks.astype(np.float32), intrinsics


def _load_ground_truth(folder: Path, scene: Scene, face_radius: float) -> None:
    landmark_file = folder / "landmarks.json"
    if landmark_file.exists():
        data = load_json(landmark_file)
        try:
            points = np.asarray(data.get("points", []) if isinstance(data, dict) else None, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InputError(f"{landmark_file} must hold 'points' as a list of [x, y, z]") from error
        if points.ndim != 2 or points.shape[1] != 3:
            raise InputError(f"{landmark_file} must hold 'points' as a list of [x, y, z]")
        check_finite(points, f"landmark file '{landmark_file}'")
        scene.landmarks = points
        scene.landmark_names = tuple(data.get("names", [str(i) for i in range(len(points))]))
    mesh_file = next((folder / n for n in MESH_NAMES if (folder / n).exists()), None)
    if mesh_file is None:
        return
    scene.gt_mesh = read_mesh(mesh_file)
    region_file = folder / "face_vertices.npy"
    if region_file.exists():
        face = load_arrays(region_file)["array"]
        if face.shape != (len(scene.gt_mesh.vertices),):
            raise InputError(f"{region_file} has shape {face.shape}, expected ({len(scene.gt_mesh.vertices)},)")
        scene.face_vertices = face.astype(bool)
    elif scene.landmarks is not None and "nose_tip" in scene.landmark_names:
        nose = scene.landmarks[scene.landmark_names.index("nose_tip")]
        scene.face_vertices = np.linalg.norm(scene.gt_mesh.vertices - nose, axis=-1) < face_radius


def load_split(root: str | Path, split: str, downscale: int = 1) -> list[Scene]:
    folder = Path(root) / split
    scenes = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not scenes:
        raise InputError(f"data set '{root}' has no scene folders under {split}/")
    return [load_scene(p, downscale) for p in scenes]
