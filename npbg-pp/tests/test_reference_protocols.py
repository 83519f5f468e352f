"""The reference's evaluation protocols on files in the data sets' layouts: backgrounds (white NeRF-Synthetic, ones
outside DTU masks, configurable), hold-out scans and frames (DTU, ScanNet), and DTU's up axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from npbgpp_layouts import write_dtu, write_nerf_synthetic, write_scannet
from shared_utils.cameras import upright_angle
from shared_utils.errors import InputError

from npbgpp.config import DataConfig, SyntheticConfig, load
from npbgpp.data.loaders import composite, load_dtu_idr, load_nerf_synthetic, load_scannet_style
from npbgpp.data.scene import SceneData
from npbgpp.data.synthetic import generate_scene

DTU_HOLDOUT_FRAMES = [7, 12, 17, 22, 27, 32, 37, 42, 47]


def _half_transparent(scene: SceneData) -> np.ndarray:
    """Alpha (V, H, W): the left half of every image transparent."""
    alpha = np.ones((len(scene.images), scene.height, scene.width), dtype=np.float32)
    alpha[:, :, : scene.width // 2] = 0.0
    return alpha


def test_composite_is_the_alpha_blend():
    image, background = np.full((1, 2, 3), 0.2, np.float32), np.array([1.0, 0.5, 0.0], np.float32)
    alpha = np.array([[[0.0], [0.25]]], np.float32)
    expected = np.stack([background, 0.25 * 0.2 + 0.75 * background])[None]
    np.testing.assert_allclose(composite(image, alpha, background), expected, rtol=0, atol=1e-7)


def test_nerf_synthetic_is_composited_on_white_by_default(tmp_path, tiny_scene):
    folder = write_nerf_synthetic(tiny_scene, tmp_path / "lego", alpha=_half_transparent(tiny_scene))
    scene = load_nerf_synthetic(folder, DataConfig())
    assert DataConfig().background == [1.0, 1.0, 1.0] == load("nerf_synthetic").data.background
    torch.testing.assert_close(scene.images[:, :, :, :16], torch.ones(len(scene.images), 3, 32, 16))
    order = torch.cat([tiny_scene.input_indices, tiny_scene.holdout_indices])
    torch.testing.assert_close(scene.images[:, :, :, 16:], tiny_scene.images[order][:, :, :, 16:], atol=1 / 255,
                               rtol=0)
    grey = load_nerf_synthetic(folder, DataConfig(background=[0.5, 0.25, 0.0]))
    colour = grey.images[0, :, 5, 3]
    torch.testing.assert_close(colour, torch.tensor([0.5, 0.25, 0.0]))


def test_dtu_is_filled_with_ones_outside_the_masks(tmp_path, tiny_scene):
    folder = write_dtu(tiny_scene, tmp_path / "scan24", masks=_half_transparent(tiny_scene))
    scene = load_dtu_idr(folder, DataConfig())
    torch.testing.assert_close(scene.images[:, :, :, :16], torch.ones(len(scene.images), 3, 32, 16))
    torch.testing.assert_close(scene.images[:, :, :, 16:], tiny_scene.images[:, :, :, 16:], atol=1 / 255, rtol=0)
    black = load_dtu_idr(folder, DataConfig(background=[0.0, 0.0, 0.0]))
    assert float(black.images[:, :, :, :16].abs().max()) == 0.0
    unmasked = load_dtu_idr(folder, DataConfig(apply_masks=False))
    torch.testing.assert_close(unmasked.images, tiny_scene.images, atol=1 / 255, rtol=0)


@pytest.mark.parametrize("background", [[1.0, 1.0], [0.0, 2.0, 0.0]])
def test_a_bad_background_is_refused(tmp_path, tiny_scene, background):
    folder = write_dtu(tiny_scene, tmp_path / "scan24")
    with pytest.raises(InputError, match="data.background"):
        load_dtu_idr(folder, DataConfig(background=background))


def _many_views(count: int, max_roll_deg: float = 30.0) -> SceneData:
    cfg = SyntheticConfig(views_per_scene=count, holdout_frames=1, image_size=8, points_per_scene=300,
                          max_roll_deg=max_roll_deg)
    return generate_scene("many", 11, cfg)


def test_dtu_holdout_protocol_on_a_49_frame_scan(tmp_path):
    cfg = load("dtu")
    assert cfg.data.holdout_scenes == ["scan24", "scan110", "scan114", "scan118"]
    assert cfg.data.holdout_frame_ids == DTU_HOLDOUT_FRAMES == list(range(7, 48, 5))
    assert not set(cfg.data.train_scenes) & set(cfg.data.holdout_scenes)
    folder = write_dtu(_many_views(49), tmp_path / "scan24")
    scene = load_dtu_idr(folder, cfg.data)
    assert scene.holdout_indices.tolist() == DTU_HOLDOUT_FRAMES
    assert len(scene.input_indices) == 40


def test_scannet_holdout_protocol(tmp_path):
    cfg = load("scannet")
    assert cfg.data.holdout_frame_ids == list(range(10, 100, 10))
    folder = write_scannet(_many_views(100), tmp_path / "scene0000_00")
    scene = load_scannet_style(folder, cfg.data)
    assert scene.holdout_indices.tolist() == list(range(10, 100, 10))


def test_holdout_frames_beyond_the_scene_are_refused(tmp_path, tiny_scene):
    folder = write_dtu(tiny_scene, tmp_path / "scan24")
    with pytest.raises(InputError, match=r"scan24.*8 frames.*\[47\]"):
        load_dtu_idr(folder, DataConfig(holdout_frame_ids=[3, 47]))


def test_dtu_up_axis_turns_real_dtu_cameras_upright(tmp_path):
    """A scan whose cameras see world +z pointing down the image, as DTU's do: with dtu.yaml's up axis the canonical
    views need no turn, with +z up they would be upside down."""
    upright = _many_views(6, max_roll_deg=0.0)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))  # world (x, y, z) -> (x, -y, -z): +z now points down
    dtu_like = SceneData("scan24", upright.images, upright.intrinsics, upright.w2c @ flip,
                         upright.points * torch.tensor([1.0, -1.0, -1.0]), upright.holdout)
    scene = load_dtu_idr(write_dtu(dtu_like, tmp_path / "scan24"), DataConfig())
    down_the_image = scene.w2c[:, :3, :3] @ torch.tensor([0.0, 0.0, 1.0])
    assert bool((down_the_image[:, 1] > 0.1).all()), "the fixture's +z should point down its images"
    torch.testing.assert_close(down_the_image[:, 0], torch.zeros(6), atol=1e-4, rtol=0)
    dtu_angles = upright_angle(scene.intrinsics, scene.w2c, tuple(load("dtu").render.up_axis))
    torch.testing.assert_close(dtu_angles, torch.zeros(6), atol=1e-4, rtol=0)
    z_up_angles = upright_angle(scene.intrinsics, scene.w2c, (0.0, 0.0, 1.0))
    torch.testing.assert_close(torch.remainder(z_up_angles, 2 * torch.pi), torch.full((6,), torch.pi), atol=1e-4,
                               rtol=0)
