import shutil

import numpy as np
import pytest
import torch
from multi_neus.data.head_family import LANDMARK_NAMES, HeadParameters, HeadShape, sphere_trace
from multi_neus.data.rays import MultiSceneRayBatches, SceneRays
from multi_neus.data.scene import load_scene, load_split
from shared_utils.errors import InputError
from shared_utils.io import read_neus_cameras, write_image, write_neus_cameras


@pytest.fixture
def shape():
    return HeadShape(HeadParameters.sample(np.random.default_rng(11)))


def test_head_sdf_is_closed_and_landmarks_lie_on_the_surface(shape):
    assert shape.sdf(torch.zeros(1, 3, dtype=torch.float64)) < 0
    far = torch.nn.functional.normalize(torch.randn(100, 3, dtype=torch.float64), dim=-1) * 0.2
    assert (shape.sdf(far) > 0).all()
    landmarks = shape.landmarks()
    assert landmarks.shape == (len(LANDMARK_NAMES), 3)
    assert np.abs(shape.sdf(torch.from_numpy(landmarks)).numpy()).max() < 1e-6
    nose, chin = landmarks[LANDMARK_NAMES.index("nose_tip")], landmarks[LANDMARK_NAMES.index("chin")]
    assert nose[1] < landmarks[:4, 1].min() and chin[2] < nose[2]


def test_sphere_tracing_hits_the_zero_level_set(shape):
    origins = torch.tensor([[0.0, -0.6, 0.0]]).repeat(50, 1)
    directions = torch.nn.functional.normalize(torch.randn(50, 3) * 0.08 + torch.tensor([0.0, 1.0, 0.0]), dim=-1)
    hit, points = sphere_trace(shape, origins, directions, 0.16)
    assert hit.any()
    assert shape.sdf(points[hit]).abs().max() < 1e-4


def test_generated_scene_loads_with_consistent_cameras(tiny_dataset):
    scenes = load_split(tiny_dataset, "train")
    assert len(scenes) == 2
    scene = scenes[0]
    assert scene.images.shape == (6, 32, 32, 3) and scene.masks.shape == (6, 32, 32)
    assert 0.05 < scene.masks.mean() < 0.8
    assert scene.gt_mesh is not None and scene.face_vertices.any() and scene.landmarks.shape == (8, 3)
    centres = np.linalg.norm(scene.normalized_c2w()[:, :3, 3], axis=-1)
    assert np.allclose(centres, 0.6 / 0.16, atol=1e-5)
    # The mask is where the rendered rays hit the head: the projected landmarks fall on it.
    from shared_utils.cameras import project

    uv, _ = project(torch.from_numpy(scene.landmarks), torch.from_numpy(scene.intrinsics[0]),
                    torch.from_numpy(np.linalg.inv(scene.c2w[0])))
    cols, rows = uv[:, 0].long().numpy(), uv[:, 1].long().numpy()
    assert scene.masks[0][rows, cols].min() > 0.5


def test_ray_batches_hold_one_scene(tiny_dataset):
    scenes = [SceneRays(s) for s in load_split(tiny_dataset, "train")]
    batch = next(iter(MultiSceneRayBatches(scenes, 64, 3, seed=1)))
    assert batch["pixels"].shape == (64, 2) and batch["rgb"].shape == (64, 3) and batch["mask"].shape == (64, 1)
    assert batch["scene"].ndim == 0 and len(batch["view"].unique()) <= 3


def test_resumed_ray_batches_continue_the_interrupted_sequence(tiny_dataset):
    scenes = [SceneRays(s) for s in load_split(tiny_dataset, "train")]
    uninterrupted = MultiSceneRayBatches(scenes, 16, 3, seed=1, batches_per_epoch=4)
    expected = [b["pixels"] for _ in range(2) for b in uninterrupted]
    interrupted = MultiSceneRayBatches(scenes, 16, 3, seed=1, batches_per_epoch=4)
    first = iter(interrupted)
    drawn = [next(first)["pixels"] for _ in range(3)]
    resumed = MultiSceneRayBatches(scenes, 16, 3, seed=1, batches_per_epoch=4)
    resumed.load_state_dict(interrupted.state_dict())
    # The interrupted epoch ends after its one remaining batch, then full epochs follow.
    drawn += [b["pixels"] for b in resumed]
    assert len(drawn) == 4
    drawn += [b["pixels"] for b in resumed]
    assert all(torch.equal(a, b) for a, b in zip(expected, drawn, strict=True))
    assert not torch.equal(expected[0], expected[1])


def test_bad_scene_folders_are_input_errors(tiny_dataset, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_scene(tmp_path / "missing")
    folder = tmp_path / "scene"
    shutil.copytree(tiny_dataset / "train" / "head_000", folder)
    write_image(folder / "mask" / "000.png", np.ones((16, 16), np.float32))
    with pytest.raises(InputError, match="does not match"):
        load_scene(folder)
    shutil.rmtree(folder)
    shutil.copytree(tiny_dataset / "train" / "head_000", folder)
    cams = read_neus_cameras(folder / "cameras_sphere.npz")
    scale = cams.scale_mats.copy()
    scale[:, :3, :3] *= 10.0  # a unit sphere of radius 1.6 m swallows the cameras at 0.6 m
    write_neus_cameras(folder / "cameras_sphere.npz", cams.intrinsics, np.linalg.inv(cams.c2w), scale)
    with pytest.raises(InputError, match="unit sphere"):
        load_scene(folder)
    (folder / "cameras_sphere.npz").unlink()
    with pytest.raises(InputError, match="cameras"):
        load_scene(folder)


def test_generation_is_cached_and_redone_when_settings_change(tmp_path):
    from multi_neus.config import SyntheticDataConfig
    from multi_neus.data.generate import ensure_synthetic_dataset

    cfg = SyntheticDataConfig(num_train_identities=1, num_test_identities=0, views_per_identity=2, image_size=16,
                              gt_mesh_resolution=32)
    ensure_synthetic_dataset(tmp_path, cfg)
    image = tmp_path / "train" / "head_000" / "image" / "000.png"
    stamp = image.stat().st_mtime_ns
    ensure_synthetic_dataset(tmp_path, cfg)
    assert image.stat().st_mtime_ns == stamp
    cfg.image_size = 24
    ensure_synthetic_dataset(tmp_path, cfg)
    assert load_scene(tmp_path / "train" / "head_000").images.shape[1:3] == (24, 24)


def test_two_runs_generating_one_data_root_at_once_write_one_complete_data_set(tiny_dataset, tmp_path):
    import os
    import subprocess

    from shared_utils.testing import console_script

    root = tmp_path / "shared-root"
    argv = [console_script("multineus"), "make-data", "--config", "tiny", f"data.root={root}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"}
    processes = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    # The second run waited for the lock and then found the complete data set: only one rendered the heads.
    rendered = sum(err.count("rendering synthetic identity") for _, err in outputs)
    assert rendered == 3
    assert not list(root.rglob("*.partial-*"))
    for split in ("train", "test"):
        expected, written = load_split(tiny_dataset, split), load_split(root, split)
        assert [s.name for s in expected] == [s.name for s in written]
        for a, b in zip(expected, written, strict=True):
            assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
            assert np.allclose(a.c2w, b.c2w) and np.array_equal(a.gt_mesh.vertices, b.gt_mesh.vertices)
