"""Point clouds from posed images when a scene ships none: visual-hull carving from silhouettes (NeRF-Synthetic alpha,
DTU masks) and back-projected depth maps where a scene has them.

Carving keeps a voxel when its centre projects onto the foreground of every input view that sees it (a view whose
frame it falls outside does not vote); it runs twice, coarse over a box that every camera frustum bounds, then fine
over the coarse hull's bounding box. The cloud is the hull's surface: kept voxels with an empty 6-neighbour.
Hold-out frames never take part, so that evaluation on them stays honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from shared_utils.cameras import invert_pose, pixel_centers, project, unproject
from shared_utils.errors import InputError
from shared_utils.io import load_arrays, read_image, read_nerf_transforms, read_neus_cameras

from npbgpp.config import PointsConfig
from npbgpp.data.loaders import _sorted_images

NERF_SPLITS = (("train", False), ("val", False), ("test", True))


@dataclass
class Silhouettes:
    """Foreground masks (V, H, W) bool, OpenCV intrinsics (V, 3, 3), w2c (V, 4, 4), hold-out flags (V,), and
    optional depth maps (V, H, W) (camera z, 0 where unknown)."""

    masks: torch.Tensor
    intrinsics: torch.Tensor
    w2c: torch.Tensor
    holdout: torch.Tensor
    depths: torch.Tensor | None = None


def scene_layout(folder: Path) -> str:
    if any((folder / f"transforms_{split}.json").is_file() for split, _ in NERF_SPLITS):
        return "nerf_synthetic"
    if (folder / "cameras.npz").is_file():
        return "dtu"
    raise InputError(f"scene folder '{folder}' has neither transforms_*.json (NeRF-Synthetic) nor cameras.npz (DTU)")


def _stack_masks(masks: list[np.ndarray], folder: Path) -> torch.Tensor:
    sizes = {mask.shape for mask in masks}
    if len(sizes) > 1:
        raise InputError(f"scene '{folder}' has masks of differing sizes {sorted(sizes)}")
    return torch.from_numpy(np.stack(masks))


def read_silhouettes(folder, cfg: PointsConfig) -> Silhouettes:
    """Silhouettes of a NeRF-Synthetic scene (alpha of its RGBA images; test split held out) or a DTU scan
    (``mask/``; ``depth/<frame>.npy`` when present; ``cfg.holdout_frame_ids`` held out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"scene folder '{folder}' not found")
    threshold = cfg.foreground_threshold
    if scene_layout(folder) == "nerf_synthetic":
        masks, intrinsics, c2w, holdout = [], [], [], []
        for split, is_holdout in NERF_SPLITS:
            path = folder / f"transforms_{split}.json"
            if not path.is_file():
                continue
            cameras = read_nerf_transforms(path)
            for index, image_path in enumerate(cameras.image_paths):
                image = read_image(image_path, channels=None)
                if image.shape[-1] != 4:
                    raise InputError(f"image '{image_path}' has no alpha channel to carve the visual hull from")
                masks.append(image[..., 3] > threshold)
                intrinsics.append(cameras.intrinsics[index])
                c2w.append(cameras.c2w[index])
                holdout.append(is_holdout)
        return Silhouettes(_stack_masks(masks, folder), torch.as_tensor(np.stack(intrinsics), dtype=torch.float32),
                           invert_pose(torch.as_tensor(np.stack(c2w), dtype=torch.float32)),
                           torch.tensor(holdout))
    cameras = read_neus_cameras(folder / "cameras.npz")
    if not (folder / "mask").is_dir():
        raise InputError(f"DTU scan '{folder}' has no mask/ folder to carve the visual hull from")
    mask_files = _sorted_images(folder / "mask")
    if len(mask_files) != len(cameras.c2w):
        raise InputError(f"DTU scan '{folder}' has {len(mask_files)} masks but {len(cameras.c2w)} cameras")
    masks = _stack_masks([read_image(path, channels=1)[..., 0] > threshold for path in mask_files], folder)
    holdout = torch.zeros(len(masks), dtype=torch.bool)
    beyond = [index for index in cfg.holdout_frame_ids if not 0 <= index < len(masks)]
    if beyond:
        raise InputError(f"scene '{folder.name}' has {len(masks)} frames; hold-out frames {beyond} do not exist")
    holdout[list(cfg.holdout_frame_ids)] = True
    depths = None
    if (folder / "depth").is_dir():
        depths = torch.stack([torch.as_tensor(load_arrays(folder / "depth" / f"{path.stem}.npy")["array"],
                                              dtype=torch.float32) for path in mask_files])
        if depths.shape != masks.shape:
            raise InputError(f"depth maps of '{folder}' have shape {tuple(depths.shape)}, masks {tuple(masks.shape)}")
    return Silhouettes(masks, torch.as_tensor(cameras.intrinsics, dtype=torch.float32),
                       invert_pose(torch.as_tensor(cameras.c2w, dtype=torch.float32)), holdout, depths)


def _voxel_centres(low: torch.Tensor, high: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    size = (high - low) / resolution
    axes = [low[i] + (torch.arange(resolution) + 0.5) * size[i] for i in range(3)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, 3), size


def carve(masks: torch.Tensor, intrinsics: torch.Tensor, w2c: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(N,) True for the voxel centres (N, 3) inside the visual hull of the views."""
    alive = torch.arange(len(centres))
    height, width = masks.shape[-2:]
    # Each view tests only the voxels that survived the views before it: the hull is a small part of the box.
    for mask, camera, pose in zip(masks, intrinsics, w2c, strict=True):
        uv, depth = project(centres[alive], camera, pose)
        column, row = torch.floor(uv[:, 0]).long(), torch.floor(uv[:, 1]).long()
        inside = (depth > 0) & (column >= 0) & (column < width) & (row >= 0) & (row < height)
        foreground = torch.zeros(len(alive), dtype=torch.bool)
        foreground[inside] = mask[row[inside], column[inside]]
        alive = alive[foreground | ~inside]
    kept = torch.zeros(len(centres), dtype=torch.bool)
    kept[alive] = True
    return kept


def _dilate(occupied: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.max_pool3d(occupied.float()[None, None], 3, stride=1, padding=1)[0, 0] > 0


def frustum_box(intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """A box around the point closest to every optical axis, as large as the widest camera sees at that distance."""
    c2w = invert_pose(w2c)
    origins, axes = c2w[:, :3, 3], torch.nn.functional.normalize(c2w[:, :3, 2], dim=-1)
    projector = torch.eye(3) - axes[:, :, None] * axes[:, None, :]
    centre = torch.linalg.lstsq(projector.sum(0), (projector @ origins[:, :, None]).sum(0)).solution[:, 0]
    distance = (origins - centre).norm(dim=-1)
    half_view = torch.maximum(width / (2 * intrinsics[:, 0, 0]), height / (2 * intrinsics[:, 1, 1]))
    half = float((distance * half_view).max())
    return centre - half, centre + half


def surface_voxels(occupied: torch.Tensor) -> torch.Tensor:
    """Occupied voxels with at least one empty (or outside) 6-neighbour."""
    padded = torch.nn.functional.pad(occupied.float()[None, None], (1, 1, 1, 1, 1, 1))[0, 0]
    interior = occupied.clone()
    for axis in range(3):
        for shift in (-1, 1):
            neighbour = torch.roll(padded, shift, dims=axis)[1:-1, 1:-1, 1:-1]
            interior &= neighbour > 0
    return occupied & ~interior


def visual_hull_points(silhouettes: Silhouettes, cfg: PointsConfig) -> torch.Tensor:
    """Surface points (N, 3) of the visual hull of the input views (hold-out frames excluded)."""
    inputs = ~silhouettes.holdout
    masks, intrinsics, w2c = silhouettes.masks[inputs], silhouettes.intrinsics[inputs], silhouettes.w2c[inputs]
    if len(masks) == 0:
        raise InputError("no input views to carve from (every frame is a hold-out frame)")
    low, high = frustum_box(intrinsics, w2c, *masks.shape[-2:])
    coarse_centres, coarse_size = _voxel_centres(low, high, cfg.coarse_resolution)
    shape = (cfg.coarse_resolution,) * 3
    coarse = carve(masks, intrinsics, w2c, coarse_centres).reshape(shape)
    if not bool(coarse.any()):
        raise InputError("the silhouettes carve the whole volume away: the masks and cameras do not agree")
    # The fine grid spans the coarse hull's bounding box and is carved only inside the dilated coarse hull.
    cells = torch.nonzero(coarse)
    fine_low = low + (cells.min(0).values - 1) * coarse_size
    fine_high = low + (cells.max(0).values + 2) * coarse_size
    centres, _ = _voxel_centres(fine_low, fine_high, cfg.resolution)
    parent = torch.floor((centres - low) / coarse_size).long().clamp(0, cfg.coarse_resolution - 1)
    near_hull = torch.nonzero(_dilate(coarse)[parent[:, 0], parent[:, 1], parent[:, 2]]).flatten()
    fine = torch.zeros(len(centres), dtype=torch.bool)
    fine[near_hull] = carve(masks, intrinsics, w2c, centres[near_hull])
    surface = surface_voxels(fine.reshape((cfg.resolution,) * 3)).reshape(-1)
    return centres[surface]


def depth_points(silhouettes: Silhouettes) -> torch.Tensor:
    """Foreground pixels of the input views with a known depth (> 0), back-projected to world points (N, 3)."""
    if silhouettes.depths is None:
        return torch.zeros(0, 3)
    height, width = silhouettes.masks.shape[-2:]
    uv = pixel_centers(height, width).reshape(-1, 2)
    clouds = []
    for index in torch.nonzero(~silhouettes.holdout).flatten().tolist():
        depth = silhouettes.depths[index].reshape(-1)
        valid = (depth > 0) & silhouettes.masks[index].reshape(-1)
        c2w = invert_pose(silhouettes.w2c[index])
        clouds.append(unproject(uv[valid], depth[valid], silhouettes.intrinsics[index], c2w))
    return torch.cat(clouds)


def make_points(folder, cfg: PointsConfig) -> torch.Tensor:
    """The scene's cloud: back-projected depth where the scene has depth maps, else the visual hull's surface."""
    silhouettes = read_silhouettes(folder, cfg)
    points = depth_points(silhouettes)
    if len(points) == 0:
        points = visual_hull_points(silhouettes, cfg)
    if cfg.max_points is not None and len(points) > cfg.max_points:
        generator = torch.Generator().manual_seed(cfg.seed)
        points = points[torch.randperm(len(points), generator=generator)[: cfg.max_points].sort().values]
    return points
