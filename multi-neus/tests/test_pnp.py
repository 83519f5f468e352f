import numpy as np
import pytest
import torch
from multi_neus.data.head_family import HeadParameters, HeadShape
from multi_neus.wild import composite, read_landmarks_2d, solve_pnp
from shared_utils.cameras import look_at, project
from shared_utils.errors import InputError
from shared_utils.io import save_json


def _landmarks():
    return HeadShape(HeadParameters.sample(np.random.default_rng(3))).landmarks()


def _camera(eye):
    c2w = look_at(torch.tensor(eye, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                  torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    k = np.array([[300.0, 0, 128], [0, 300.0, 128], [0, 0, 1]])
    return k, torch.linalg.inv(c2w).numpy()


@pytest.mark.parametrize("eye", [(0.0, -0.6, 0.05), (0.25, -0.5, 0.1), (-0.2, -0.55, -0.05)])
def test_pnp_recovers_a_known_pose(eye):
    points = _landmarks()
    k, w2c = _camera(eye)
    uv, _ = project(torch.from_numpy(points), torch.from_numpy(k), torch.from_numpy(w2c))
    estimate = solve_pnp(points, uv.numpy(), k)
    assert np.allclose(estimate[:3, :3], w2c[:3, :3], atol=1e-4)
    assert np.allclose(estimate[:3, 3], w2c[:3, 3], atol=1e-4)


def test_pnp_with_noisy_landmarks_is_close():
    points = _landmarks()
    k, w2c = _camera((0.1, -0.6, 0.0))
    uv, _ = project(torch.from_numpy(points), torch.from_numpy(k), torch.from_numpy(w2c))
    noisy = uv.numpy() + np.random.default_rng(0).normal(0, 0.5, uv.shape)
    estimate = solve_pnp(points, noisy, k)
    centre = -estimate[:3, :3].T @ estimate[:3, 3]
    assert np.linalg.norm(centre - np.array([0.1, -0.6, 0.0])) < 0.05


def test_degenerate_pnp_is_an_input_error():
    points = _landmarks()
    k, _ = _camera((0.0, -0.6, 0.0))
    with pytest.raises(InputError, match="at least 4"):
        solve_pnp(points[:3], np.zeros((3, 2)), k)
    line = np.stack([np.linspace(0, 1, 8)] * 3, -1)
    with pytest.raises(InputError, match="degenerate"):
        solve_pnp(line, np.random.rand(8, 2) * 100, k)
    with pytest.raises(InputError, match="degenerate"):
        solve_pnp(points, np.full((8, 2), 50.0), k)
    with pytest.raises(InputError, match="NaN"):
        solve_pnp(points, np.full((8, 2), np.nan), k)


def test_photo_is_composited_onto_the_renderer_background():
    image = np.full((2, 2, 3), 0.8, np.float32)
    mask = np.array([[1.0, 0.0], [0.5, 1.0]], np.float32)
    out = composite(image, mask, background=0.1)
    assert np.allclose(out[0, 0], 0.8) and np.allclose(out[0, 1], 0.1) and np.allclose(out[1, 0], 0.45)


def test_landmark_file_must_match_the_class_landmarks(tmp_path):
    save_json({"points": [[1.0, 2.0]] * 5}, tmp_path / "lm.json")
    with pytest.raises(InputError, match="8 points"):
        read_landmarks_2d(tmp_path / "lm.json")
    save_json({"names": ["a"] * 8, "points": [[1.0, 2.0]] * 8}, tmp_path / "lm.json")
    with pytest.raises(InputError, match="names"):
        read_landmarks_2d(tmp_path / "lm.json")
