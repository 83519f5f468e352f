"""A real scene in the pipeline: NPBG++ trained on the built-in scenes, evaluated zero-shot on a real NeRF-Synthetic
scene (its cloud carved from the input views' alpha by make-points), with ft and the per-scene baseline beside it."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import torch
from shared_utils.errors import InputError
from shared_utils.io import write_point_cloud
from shared_utils.run import RunDir

from npbgpp.config import NPBGPPConfig
from npbgpp.data.loaders import load_nerf_synthetic
from npbgpp.data.points import read_silhouettes, visual_hull_points
from npbgpp.data.scene import SceneData
from npbgpp.finetune import build_scene, fit_scene
from npbgpp.lightning import render_views
from npbgpp.models.npbgpp import NPBGPP

log = logging.getLogger(__name__)


def holdout_frames(count: int, has_test_split: bool, test_flags: torch.Tensor, every: int) -> torch.Tensor:
    """The scene's test split, or every ``every``-th frame when it has none."""
    return test_flags.clone() if has_test_split else torch.arange(count) % every == 0


def real_scene_cloud(folder: Path, cfg: NPBGPPConfig, run: RunDir) -> tuple[Path, torch.Tensor, int]:
    """Carve the scene's cloud from its input views; returns the PLY written in the run folder, the hold-out flags
    (frame order of load_nerf_synthetic: train, val, test) and the image width."""
    silhouettes = read_silhouettes(folder, cfg.points)
    holdout = holdout_frames(len(silhouettes.masks), bool(silhouettes.holdout.any()), silhouettes.holdout,
                             cfg.eval.real_holdout_every)
    silhouettes = dataclasses.replace(silhouettes, holdout=holdout)
    points = visual_hull_points(silhouettes, cfg.points)
    path = run.pictures / f"{folder.name}_cloud" / "points.ply"
    write_point_cloud(path, points.numpy())
    height, width = silhouettes.masks.shape[-2:]
    if height != width:
        raise InputError(f"real scene '{folder}' has {width}x{height} images; square ones are expected")
    return path, holdout, width


def load_real_scene(folder: Path, cloud: Path, holdout: torch.Tensor, scale: float, cfg: NPBGPPConfig) -> SceneData:
    scene = load_nerf_synthetic(folder, dataclasses.replace(cfg.data, image_scale=scale), cloud)
    return dataclasses.replace(scene, holdout=holdout)


def evaluate_real_scene(model: NPBGPP, cfg: NPBGPPConfig, run: RunDir, metrics, write_grid) -> dict | None:
    """``{"scene", "holdout_frames", "sizes": {"64x64": {method: {psnr, ssim}}}}``; None when the configured folder
    is absent. ``metrics(renders, targets)`` scores, ``write_grid(run, scene, frames, renders, rows)`` draws."""
    if cfg.eval.real_scene is None:
        return None
    folder = Path(cfg.eval.real_scene)
    if not folder.is_dir():
        log.info("real scene %s absent: no real-scene block in metrics.json", folder)
        return None
    cloud, holdout, width = real_scene_cloud(folder, cfg, run)
    run.add_caption(f"{folder.name}_cloud", f"Point cloud of the real scene {folder.name}, carved from the alpha "
                                            "of its input views (make-points' visual hull).")
    block: dict = {"scene": folder.name, "holdout_frames": int(holdout.sum()), "sizes": {}}
    for size in cfg.eval.real_sizes:
        scene = load_real_scene(folder, cloud, holdout, size / width, cfg)
        frames = scene.holdout_indices
        descriptors = build_scene(model, scene)
        renders = {"npbgpp": render_views(functools.partial(model.render, descriptors), scene, frames)}
        if size in cfg.eval.real_fit_sizes:
            name = f"{folder.name}_{size}"
            fitted, _ = fit_scene(model, scene, "ft", cfg, run / "ft" / name, descriptors)
            renders["npbgpp_ft"] = render_views(fitted.render, scene, frames)
            fitted, _ = fit_scene(model, scene, "baseline", cfg, run / "baseline" / name)
            renders["per_scene_baseline"] = render_views(fitted.render, scene, frames)
        targets = scene.images[frames]
        block["sizes"][f"{size}x{size}"] = {method: {key: value for key, value in metrics(images, targets).items()
                                                     if key != "lpips"} for method, images in renders.items()}
        log.info("real scene %s at %dx%d: %s", folder.name, size, size, block["sizes"][f"{size}x{size}"])
        write_grid(run, scene, frames, renders, cfg.eval.grid_frames)
    return block
