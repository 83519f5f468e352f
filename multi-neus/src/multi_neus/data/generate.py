"""Write the built-in synthetic head data set: NeuS scene folders with H3DS-style ground truth.

Layout of one scene folder (a superset of a NeuS/IDR scene):
    image/000.png  mask/000.png  cameras_sphere.npz      NeuS format (world_mat_i = K [R|t], scale_mat_i)
    mesh_gt.ply  face_vertices.npy  landmarks.json       ground truth mesh, face-region label, 3-D landmarks
    identity.json                                        the shape parameters and generation settings
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import mcubes
import numpy as np
import torch
from shared_utils.cameras import intrinsics_matrix, invert_pose, look_at, pixel_rays
from shared_utils.io import load_json, save_json, write_image, write_mesh, write_neus_cameras
from shared_utils.run import data_lock, data_root

from ..config import MultiNeuSConfig, SyntheticDataConfig
from .head_family import LANDMARK_NAMES, HeadParameters, HeadShape, sphere_trace

log = logging.getLogger(__name__)
DATASET_MARKER = "dataset.json"


def orbit_cameras(cfg: SyntheticDataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Intrinsics (3, 3) and c2w (V, 4, 4): rings at the configured elevations, view 0 frontal (azimuth 0)."""
    size = cfg.image_size
    focal = 0.5 * size / math.tan(math.radians(cfg.fov_deg) / 2)
    intrinsics = intrinsics_matrix(focal, focal, size / 2, size / 2).double()
    rings = len(cfg.elevations_deg)
    per_ring = math.ceil(cfg.views_per_identity / rings)
    eyes = []
    for ring, elevation in enumerate(cfg.elevations_deg):
        for k in range(per_ring):
            # Rings are offset by half a step so that the views interleave.
            azimuth = math.radians(360.0 * (k + 0.5 * (ring % 2)) / per_ring)
            el = math.radians(elevation)
            eyes.append(
                (
                    cfg.camera_distance * math.sin(azimuth) * math.cos(el),
                    -cfg.camera_distance * math.cos(azimuth) * math.cos(el),
                    cfg.camera_distance * math.sin(el),
                )
            )
    eye = torch.tensor(eyes[: cfg.views_per_identity], dtype=torch.float64)
    target = torch.zeros_like(eye)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand_as(eye)
    return intrinsics, look_at(eye, target, up)


@torch.no_grad()
def render_view(shape: HeadShape, intrinsics, c2w, cfg: SyntheticDataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sphere-traced (H, W, 3) image and (H, W) coverage mask, supersampled ``cfg.supersampling`` times per axis."""
    s = cfg.supersampling
    size = cfg.image_size * s
    k_hi = intrinsics.clone()
    k_hi[:2] *= s
    origins, directions = pixel_rays(k_hi.float(), c2w.float(), size, size)
    origins, directions = origins.reshape(-1, 3), directions.reshape(-1, 3)
    hit, points = sphere_trace(shape, origins, directions, cfg.scene_radius)
    color = torch.zeros_like(points)
    if hit.any():
        color[hit] = shape.shade(points[hit])
    color = color.reshape(cfg.image_size, s, cfg.image_size, s, 3).mean((1, 3))
    mask = hit.float().reshape(cfg.image_size, s, cfg.image_size, s).mean((1, 3))
    return color.clamp(0, 1).numpy().astype(np.float32), mask.numpy().astype(np.float32)


def ground_truth_mesh(shape: HeadShape, cfg: SyntheticDataConfig) -> tuple[np.ndarray, np.ndarray]:
    n = cfg.gt_mesh_resolution
    axis = torch.linspace(-cfg.scene_radius, cfg.scene_radius, n, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    values = torch.cat([shape.sdf(chunk) for chunk in grid.split(262144)]).reshape(n, n, n).numpy()
    vertices, faces = mcubes.marching_cubes(values, 0.0)
    vertices = vertices * (2 * cfg.scene_radius / (n - 1)) - cfg.scene_radius
    return vertices, faces.astype(np.int64)


def write_scene(folder: Path, params: HeadParameters, cfg: SyntheticDataConfig) -> None:
    shape = HeadShape(params)
    intrinsics, c2w = orbit_cameras(cfg)
    for view in range(c2w.shape[0]):
        image, mask = render_view(shape, intrinsics, c2w[view], cfg)
        write_image(folder / "image" / f"{view:03d}.png", image)
        write_image(folder / "mask" / f"{view:03d}.png", mask)
    scale_mat = np.diag([cfg.scene_radius] * 3 + [1.0])
    w2c = invert_pose(c2w).numpy()
    write_neus_cameras(
        folder / "cameras_sphere.npz", np.repeat(intrinsics.numpy()[None], len(w2c), 0), w2c,
        np.repeat(scale_mat[None], len(w2c), 0),
    )
    vertices, faces = ground_truth_mesh(shape, cfg)
    write_mesh(folder / "mesh_gt.ply", vertices, faces)
    np.save(folder / "face_vertices.npy", shape.face_region(vertices))
    save_json({"names": list(LANDMARK_NAMES), "points": shape.landmarks()}, folder / "landmarks.json")


def ensure_synthetic_dataset(root: Path, cfg: SyntheticDataConfig) -> Path:
    """Generate the data set under ``root`` unless a complete one with the same settings is already there.

    Runs under the data root's lock; every identity is written to a temporary folder and renamed into place, so
    runs sharing the root neither write the same files at once nor read a half-written identity.
    """
    root = Path(root)
    marker = root / DATASET_MARKER
    settings = asdict(cfg)
    with data_lock(root):
        if marker.exists() and load_json(marker).get("settings") == settings:
            return root
        rng = np.random.default_rng(cfg.seed)
        total = cfg.num_train_identities + cfg.num_test_identities
        for index in range(total):
            params = HeadParameters.sample(rng)
            split = "train" if index < cfg.num_train_identities else "test"
            folder = root / split / f"head_{index:03d}"
            record = {"params": _jsonable(params), "settings": settings}
            # Identities finished by an interrupted generation with the same settings are kept.
            if (folder / "identity.json").exists() and load_json(folder / "identity.json") == record:
                continue
            log.info("rendering synthetic identity %d/%d -> %s", index + 1, total, folder)
            partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            write_scene(partial, params, cfg)
            save_json(record, partial / "identity.json")
            if folder.exists():
                shutil.rmtree(folder)
            partial.rename(folder)
        # Identities of an earlier, larger data set in the same root would otherwise join the splits.
        for split, first, last in (("train", 0, cfg.num_train_identities), ("test", cfg.num_train_identities, total)):
            for stale in (root / split).glob("head_*"):
                if not first <= int(stale.name.split("_")[1]) < last:
                    shutil.rmtree(stale)
        save_json({"settings": settings, "landmark_names": list(LANDMARK_NAMES)}, marker)
    return root


def prepare_data(cfg: MultiNeuSConfig) -> Path:
    """The data root (``data.root``, else ``$THESIS_DATA_ROOT/multineus``, else ``data/multineus``): a user's
    folder with ``train/`` and ``test/`` scenes is used as it is, otherwise the synthetic heads are generated."""
    root = data_root("multineus", cfg.data.root)
    if cfg.data.root is None or not (root / "train").exists():
        ensure_synthetic_dataset(root, cfg.data.synthetic)
    return root


def _jsonable(params: HeadParameters) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.to_dict().items()}
