import json
import math

import numpy as np
import pytest
import torch
from shared_utils.cameras import convert_c2w, invert_pose, project
from shared_utils.errors import InputError
from shared_utils.io import write_image, write_neus_cameras, write_point_cloud

from npbgpp.config import DataConfig, SyntheticConfig
from npbgpp.data.loaders import load_dtu_idr, load_nerf_synthetic, load_scannet_style
from npbgpp.data.scene import SceneData, subsample_points
from npbgpp.data.synthetic import (
    Material,
    Primitive,
    ensure_synthetic_dataset,
    load_scene_file,
    ray_cast,
    save_scene,
)
from npbgpp.data.views import baseline_angles, select_input_views


def plain_material():
    return Material("checker", np.ones(3), np.ones(3), 1.0, np.eye(3), 0.0, 10.0)


def test_ray_caster_hits_a_sphere_where_expected():
    sphere = Primitive("sphere", np.array([0.0, 0.0, 1.0]), np.array([0.5] * 3), 0.0, plain_material())
    origins = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.45, 5.0], [0.0, 0.55, 5.0]], dtype=torch.float64)
    directions = torch.tensor([[0.0, 0.0, -1.0]] * 3, dtype=torch.float64)
    colors = ray_cast([sphere], origins, directions)
    assert float(colors[0].sum()) > 0 and float(colors[1].sum()) > 0 and float(colors[2].sum()) == 0.0


def test_specular_shading_depends_on_view():
    material = Material("checker", np.full(3, 0.3), np.full(3, 0.3), 1.0, np.eye(3), 0.8, 20.0)
    floor = Primitive("floor", np.zeros(3), np.array([1.5, 1.5, 0.0]), 0.0, material)
    target = torch.tensor([0.2, 0.1, 0.0], dtype=torch.float64)
    colors = []
    for origin in ([0.2 - 0.4 * 3, 0.1 + 0.3 * 3, 0.85 * 3], [0.2 + 3, 0.1, 1.0]):
        origin = torch.tensor(origin, dtype=torch.float64)
        direction = torch.nn.functional.normalize(target - origin, dim=0)
        colors.append(ray_cast([floor], origin[None], direction[None])[0])
    assert float((colors[0] - colors[1]).abs().max()) > 0.2


def test_point_cloud_lies_on_rendered_surfaces(tiny_scene):
    visible_fraction = []
    for index in range(tiny_scene.images.shape[0]):
        uv, depth = project(tiny_scene.points, tiny_scene.intrinsics[index], tiny_scene.w2c[index])
        inside = (uv >= 0).all(-1) & (uv[:, 0] < 32) & (uv[:, 1] < 32) & (depth > 0)
        pixels = uv[inside].long()
        colours = tiny_scene.images[index][:, pixels[:, 1], pixels[:, 0]]
        visible_fraction.append(float((colours.sum(0) > 0).float().mean()))
    # Points project onto non-background pixels (black background, lit surfaces are never pure black).
    assert min(visible_fraction) > 0.97


def test_dataset_is_generated_once_and_reused(tmp_path):
    cfg = SyntheticConfig(num_train_scenes=1, num_holdout_scenes=1, views_per_scene=4, holdout_frames=1,
                          image_size=16, points_per_scene=100)
    root = ensure_synthetic_dataset(tmp_path / "syn", cfg)
    stamp = (root / "train_00.npz").stat().st_mtime_ns
    ensure_synthetic_dataset(tmp_path / "syn", cfg)
    assert (root / "train_00.npz").stat().st_mtime_ns == stamp
    scene = load_scene_file(root / "holdout_00.npz")
    assert scene.images.shape == (4, 3, 16, 16) and int(scene.holdout.sum()) == 1


def test_scene_file_roundtrip(tmp_path, tiny_scene):
    save_scene(tiny_scene, tmp_path / "s.npz")
    loaded = load_scene_file(tmp_path / "s.npz")
    torch.testing.assert_close(loaded.w2c, tiny_scene.w2c)
    assert float((loaded.images - tiny_scene.images).abs().max()) <= 1 / 255 + 1e-6


def test_corrupt_scene_file_is_an_input_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        load_scene_file(tmp_path / "bad.npz")


def _scene_kwargs(tiny_scene, **changes):
    kwargs = dict(name="s", images=tiny_scene.images, intrinsics=tiny_scene.intrinsics, w2c=tiny_scene.w2c,
                  points=tiny_scene.points, holdout=tiny_scene.holdout)
    kwargs.update(changes)
    return kwargs


def test_bad_scenes_are_rejected(tiny_scene):
    nan_pose = tiny_scene.w2c.clone()
    nan_pose[1, 0, 3] = float("nan")
    singular = tiny_scene.intrinsics.clone()
    singular[2] = 0.0
    scaled = tiny_scene.w2c.clone()
    scaled[0, :3, :3] *= 0.0
    cases = {
        "NaN": dict(w2c=nan_pose),
        "singular": dict(intrinsics=singular),
        "not a rigid": dict(w2c=scaled),
        "8 images but 7": dict(intrinsics=tiny_scene.intrinsics[:7]),
        "empty": dict(points=torch.zeros(0, 3)),
        "no input views": dict(holdout=torch.ones(8, dtype=torch.bool)),
    }
    for message, change in cases.items():
        with pytest.raises(InputError, match=message):
            SceneData(**_scene_kwargs(tiny_scene, **change))


def test_huge_clouds_are_subsampled():
    points = torch.randn(1000, 3)
    kept = subsample_points(points, 100)
    assert kept.shape == (100, 3)
    assert subsample_points(points, None) is points


def test_input_views_prefer_the_optimal_baseline():
    angles = torch.deg2rad(torch.tensor([0.0, 5.0, 15.0, 16.0, 40.0, 90.0]))
    centers = torch.stack([torch.cos(angles), torch.sin(angles), torch.zeros(6)], dim=1) * 3
    chosen = select_input_views(centers, torch.arange(1, 6), centers[0], torch.zeros(3), 2)
    assert sorted(chosen.tolist()) == [2, 3]
    torch.testing.assert_close(baseline_angles(centers, centers[0], torch.zeros(3))[4], torch.tensor(40.0))


# ----- real data-set layouts, written from a synthetic scene so that cameras are known exactly ----------------

def _write_images(folder, images):
    folder.mkdir(parents=True)
    for index, image in enumerate(images):
        write_image(folder / f"{index:03d}.png", image.permute(1, 2, 0).numpy())


def test_nerf_synthetic_loader(tmp_path, tiny_scene):
    folder = tmp_path / "lego"
    c2w_gl = convert_c2w(invert_pose(tiny_scene.w2c.double()), "opencv", "opengl").numpy()
    focal = float(tiny_scene.intrinsics[0, 0, 0])
    for split, indices in (("train", tiny_scene.input_indices), ("test", tiny_scene.holdout_indices)):
        frames = []
        for index in indices.tolist():
            rgba = torch.cat([tiny_scene.images[index], torch.ones(1, 32, 32)]).permute(1, 2, 0).numpy()
            write_image(folder / split / f"r_{index}.png", rgba)
            frames.append({"file_path": f"./{split}/r_{index}", "transform_matrix": c2w_gl[index].tolist()})
        angle = 2 * math.atan(16 / focal)
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    write_point_cloud(folder / "points.ply", tiny_scene.points.numpy())
    scene = load_nerf_synthetic(folder, DataConfig())
    order = torch.cat([tiny_scene.input_indices, tiny_scene.holdout_indices])
    torch.testing.assert_close(scene.w2c, tiny_scene.w2c[order], atol=1e-4, rtol=0)
    torch.testing.assert_close(scene.intrinsics, tiny_scene.intrinsics[order], atol=1e-3, rtol=0)
    assert int(scene.holdout.sum()) == int(tiny_scene.holdout.sum())
    half = load_nerf_synthetic(folder, DataConfig(image_scale=0.5))
    assert half.images.shape[-1] == 16 and float(half.intrinsics[0, 0, 2]) == pytest.approx(8.0)


def test_dtu_idr_loader(tmp_path, tiny_scene):
    folder = tmp_path / "scan1"
    _write_images(folder / "image", tiny_scene.images)
    _write_images(folder / "mask", torch.ones_like(tiny_scene.images))
    write_neus_cameras(folder / "cameras.npz", tiny_scene.intrinsics.numpy(), tiny_scene.w2c.numpy())
    write_point_cloud(folder / "points.ply", tiny_scene.points.numpy())
    scene = load_dtu_idr(folder, DataConfig(holdout_frame_ids=[2, 6]))
    torch.testing.assert_close(scene.w2c, tiny_scene.w2c, atol=1e-4, rtol=0)
    torch.testing.assert_close(scene.intrinsics, tiny_scene.intrinsics, atol=1e-3, rtol=0)
    assert scene.holdout.tolist() == [False, False, True, False] * 2
    (folder / "image" / "007.png").unlink()
    with pytest.raises(InputError, match="7 images but 8 cameras"):
        load_dtu_idr(folder, DataConfig())


def test_scannet_style_loader(tmp_path, tiny_scene):
    folder = tmp_path / "scene0000_00"
    folder.mkdir()
    np.save(folder / "intrinsics.npy", {"K": tiny_scene.intrinsics[0].numpy(), "height": 32, "width": 32},
            allow_pickle=True)
    np.save(folder / "extrinsics.npy", tiny_scene.w2c.numpy())
    (folder / "images").mkdir()
    for index, image in enumerate(tiny_scene.images):
        write_image(folder / "images" / f"{index}.jpg", image.permute(1, 2, 0).numpy())
    write_point_cloud(folder / "full.ply", tiny_scene.points.numpy())
    scene = load_scannet_style(folder, DataConfig(holdout_frame_ids=[2, 6]))
    torch.testing.assert_close(scene.w2c, tiny_scene.w2c)
    assert scene.images.shape == tiny_scene.images.shape


def test_images_of_differing_sizes_are_rejected(tmp_path, tiny_scene):
    folder = tmp_path / "scan2"
    _write_images(folder / "image", tiny_scene.images)
    write_image(folder / "image" / "003.png", np.zeros((20, 32, 3), dtype=np.float32))
    write_neus_cameras(folder / "cameras.npz", tiny_scene.intrinsics.numpy(), tiny_scene.w2c.numpy())
    write_point_cloud(folder / "points.ply", tiny_scene.points.numpy())
    with pytest.raises(InputError, match="differing sizes"):
        load_dtu_idr(folder, DataConfig(apply_masks=False))


def test_training_samples_follow_the_seed_and_differ_between_indices(tiny_config, tiny_scene):
    from npbgpp.data.datamodule import TrainingSamples

    samples = TrainingSamples([tiny_scene], tiny_config)
    torch.manual_seed(5)
    first = samples[0]
    torch.manual_seed(5)
    again = samples[0]
    torch.manual_seed(5)
    other_rank = samples[1]
    torch.testing.assert_close(first["input_w2c"], again["input_w2c"])
    assert first["input_images"].shape == (3, 3, 32, 32)
    assert not torch.equal(torch.cat([first["input_w2c"], first["target_w2c"][None]]),
                           torch.cat([other_rank["input_w2c"], other_rank["target_w2c"][None]]))
    # Hold-out frames are never training targets or inputs.
    holdout = tiny_scene.w2c[tiny_scene.holdout_indices]
    for sample in (first, other_rank):
        for pose in torch.cat([sample["input_w2c"], sample["target_w2c"][None]]):
            assert not any(torch.equal(pose, h) for h in holdout)
