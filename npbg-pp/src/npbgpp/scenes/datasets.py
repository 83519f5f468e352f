"""Which scenes a configuration trains and evaluates on, and where they live."""

from __future__ import annotations

import os
from pathlib import Path

from shared_utils.errors import InputError

from npbgpp.config import NPBGPPConfig
from npbgpp.scenes.loaders import load_dtu_idr, load_nerf_synthetic, load_scannet_style
from npbgpp.scenes.scene import SceneData
from npbgpp.scenes.synthetic import ensure_synthetic_dataset, load_scene_file, synthetic_scene_names


def data_root(cfg: NPBGPPConfig) -> Path:
    if cfg.data.root:
        return Path(cfg.data.root)
    base = Path(os.environ["THESIS_DATA_ROOT"]) if os.environ.get("THESIS_DATA_ROOT") else Path("data")
    return base / "npbg"


def load_named_scene(cfg: NPBGPPConfig, name: str) -> SceneData:
    data = cfg.data
    root = data_root(cfg)
    if data.kind == "synthetic":
        return load_scene_file(root / "synthetic" / f"{name}.npz", name)
    folder = root / name
    if data.kind == "nerf_synthetic":
        return load_nerf_synthetic(folder, image_scale=data.image_scale, max_points=data.max_points)
    if data.kind == "dtu":
        return load_dtu_idr(folder, image_scale=data.image_scale, holdout_every=data.holdout_every,
                            apply_masks=data.apply_masks, max_points=data.max_points)
    return load_scannet_style(folder, image_scale=data.image_scale, holdout_every=data.holdout_every,
                              max_points=data.max_points)


def scene_names(cfg: NPBGPPConfig) -> tuple[list[str], list[str]]:
    """(training scenes, hold-out scenes); builds the synthetic data set first when it is missing."""
    if cfg.data.kind == "synthetic":
        ensure_synthetic_dataset(data_root(cfg) / "synthetic", cfg.data.synthetic)
        train, holdout = synthetic_scene_names(cfg.data.synthetic)
    else:
        train, holdout = list(cfg.data.train_scenes), list(cfg.data.holdout_scenes)
    overlap = sorted(set(train) & set(holdout))
    if overlap:
        raise InputError(f"scenes {overlap} are listed both for training and as hold-out scenes")
    return train, holdout


def load_scenes(cfg: NPBGPPConfig, names: list[str]) -> list[SceneData]:
    return [load_named_scene(cfg, name) for name in names]
