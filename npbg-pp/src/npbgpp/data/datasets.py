"""Which scenes a configuration trains and evaluates on, and where they live."""

from __future__ import annotations

from pathlib import Path

from shared_utils.errors import InputError
from shared_utils.run import data_lock
from shared_utils.run import data_root as member_data_root

from npbgpp.config import NPBGPPConfig
from npbgpp.data.loaders import dtu_idr_frames, nerf_synthetic_frames, scannet_style_frames
from npbgpp.data.scene import SceneData, SceneFrames
from npbgpp.data.synthetic import ensure_synthetic_dataset, load_scene_file, synthetic_scene_names

DATA_ALIAS = "npbg"


def data_root(cfg: NPBGPPConfig) -> Path:
    """``data.root``, else ``$THESIS_DATA_ROOT/npbg``, else ``data/npbg``; real data sets are only read."""
    return member_data_root(DATA_ALIAS, cfg.data.root, writable=cfg.data.kind == "synthetic")


def synthetic_folder(cfg: NPBGPPConfig) -> Path:
    """The built-in data set, generated first (under the data root's lock) when missing or out of date."""
    folder = data_root(cfg) / "synthetic"
    with data_lock(folder):
        ensure_synthetic_dataset(folder, cfg.data.synthetic)
    return folder


def named_scene_frames(cfg: NPBGPPConfig, name: str) -> SceneData | SceneFrames:
    """A scene to read view by view: real data sets stay on disk until each image is read; a built-in scene is one
    small array file, read whole."""
    data = cfg.data
    if data.kind == "synthetic":
        train, holdout = synthetic_scene_names(data.synthetic)
        if name not in train + holdout:
            raise InputError(f"scene '{name}' is not a built-in scene (available: {', '.join(train + holdout)})")
        return load_scene_file(synthetic_folder(cfg) / f"{name}.npz", name)
    folder = data_root(cfg) / name
    if data.kind == "nerf_synthetic":
        return nerf_synthetic_frames(folder, data)
    if data.kind == "dtu":
        return dtu_idr_frames(folder, data)
    return scannet_style_frames(folder, data)


def load_named_scene(cfg: NPBGPPConfig, name: str) -> SceneData:
    scene = named_scene_frames(cfg, name)
    return scene if isinstance(scene, SceneData) else scene.load()


def scene_names(cfg: NPBGPPConfig) -> tuple[list[str], list[str]]:
    """(training scenes, hold-out scenes); builds the synthetic data set first when it is missing."""
    if cfg.data.kind == "synthetic":
        synthetic_folder(cfg)
        train, holdout = synthetic_scene_names(cfg.data.synthetic)
    else:
        train, holdout = list(cfg.data.train_scenes), list(cfg.data.holdout_scenes)
    overlap = sorted(set(train) & set(holdout))
    if overlap:
        raise InputError(f"scenes {overlap} are listed both for training and as hold-out scenes")
    return train, holdout


def load_scenes(cfg: NPBGPPConfig, names: list[str]) -> list[SceneData]:
    return [load_named_scene(cfg, name) for name in names]
