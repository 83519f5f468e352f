"""Scenes read view by view from disk (``SceneFrames``): building a scene's descriptors holds a bounded number of
images whatever the number of views, and gives exactly what the in-memory scene gives."""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import pytest
import torch
from npbgpp_layouts import write_dtu, write_nerf_synthetic, write_scannet
from shared_utils.errors import InputError
from shared_utils.io import write_image

from npbgpp.config import DataConfig
from npbgpp.data.loaders import dtu_idr_frames, nerf_synthetic_frames, scannet_style_frames
from npbgpp.data.scene import SceneFrames
from npbgpp.data.synthetic import generate_scene
from npbgpp.finetune import build_scene
from npbgpp.models.npbgpp import NPBGPP


@pytest.fixture
def many_views(tiny_config):
    return generate_scene("many", 5, dataclasses.replace(tiny_config.data.synthetic, views_per_scene=16,
                                                          holdout_frames=2))


def _build_tracking_images(model, frames: SceneFrames, monkeypatch) -> tuple[int, list[int], object]:
    """Most images alive at once during ``build_scene``, the frames read in order, and the descriptors; the whole
    scene must never be loaded."""
    alive: list[weakref.ref] = []
    read_order: list[int] = []
    most = 0
    read = frames.image

    def tracked(index: int) -> torch.Tensor:
        nonlocal most
        image = read(index)
        read_order.append(index)
        alive.append(weakref.ref(image))
        most = max(most, sum(ref() is not None for ref in alive))
        return image

    monkeypatch.setattr(frames, "image", tracked)
    monkeypatch.setattr(frames, "load", lambda: pytest.fail("build_scene read the whole scene into memory"))
    descriptors = build_scene(model, frames)
    return most, read_order, descriptors


def test_build_holds_a_bounded_number_of_images(tmp_path, tiny_config, many_views, monkeypatch):
    folder = write_nerf_synthetic(many_views, tmp_path / "scene")
    data = DataConfig(background=[0.0, 0.0, 0.0])
    model = NPBGPP(tiny_config).eval()
    frames = nerf_synthetic_frames(folder, data)
    most, read_order, descriptors = _build_tracking_images(model, frames, monkeypatch)
    assert read_order == frames.input_indices.tolist() and len(read_order) == 14
    assert most <= 2
    in_memory = build_scene(model, nerf_synthetic_frames(folder, data).load())
    for name in ("points", "beta", "beta0"):
        torch.testing.assert_close(getattr(descriptors, name), getattr(in_memory, name), rtol=0, atol=0)


@pytest.mark.parametrize("layout", ["nerf_synthetic", "dtu", "scannet"])
def test_frames_load_equals_reading_each_view(tmp_path, tiny_scene, layout):
    data = DataConfig(background=[0.0, 0.0, 0.0], holdout_frame_ids=[1])
    if layout == "nerf_synthetic":
        frames = nerf_synthetic_frames(write_nerf_synthetic(tiny_scene, tmp_path / "s"), data)
    elif layout == "dtu":
        frames = dtu_idr_frames(write_dtu(tiny_scene, tmp_path / "s"), data)
    else:
        frames = scannet_style_frames(write_scannet(tiny_scene, tmp_path / "s"), data)
    scene = frames.load()
    assert (frames.height, frames.width) == (scene.height, scene.width) == tuple(tiny_scene.images.shape[-2:])
    for index in range(len(scene.images)):
        torch.testing.assert_close(frames.image(index), scene.images[index], rtol=0, atol=0)
    streamed = [view for view, _, _ in frames.views(frames.input_indices, "cpu")]
    torch.testing.assert_close(torch.stack(streamed), scene.images[scene.input_indices], rtol=0, atol=0)


def test_a_frame_of_another_size_is_named(tmp_path, tiny_scene):
    folder = write_nerf_synthetic(tiny_scene, tmp_path / "s")
    frames = nerf_synthetic_frames(folder, DataConfig())
    frames.image(0)
    for path in folder.rglob("*.png"):
        write_image(path, np.zeros((8, 8, 4), dtype=np.float32))
    with pytest.raises(InputError, match="differing sizes"):
        frames.image(1)


def test_a_frame_with_nan_is_named():
    frames = SceneFrames.from_numpy("s", lambda index: np.full((4, 4, 3), np.nan, np.float32),
                                    np.diag([10.0, 10.0, 1.0])[None], np.eye(4)[None], np.zeros((1, 3)),
                                    np.zeros(1, bool))
    with pytest.raises(InputError, match="frame 0"):
        frames.image(0)
