"""Whole-model prediction (`def-sharp predict`, `def-sharp curves`) and bad input, with an untrained tiny network."""

import numpy as np
import pytest
import torch
import trimesh
from def_sharp.cli import main
from def_sharp.config import load
from def_sharp.data.scanning import camera_looking_along, scan
from def_sharp.lightning import DEFModule
from def_sharp.whole_model import predict_point_cloud, predict_range_image, read_scans, splat_point_cloud
from shared_utils.errors import InputError
from shared_utils.io import read_point_cloud

THREE_VIEWS = ["predict.n_views=3"]


def test_range_image_tiling_covers_every_surface_pixel():
    module = DEFModule.from_config(load("tiny", THREE_VIEWS), input_scale=2.0).eval()
    depth = np.random.default_rng(0).uniform(1, 2, size=(90, 130))
    mask = np.ones_like(depth, dtype=bool)
    mask[:10] = False
    with torch.no_grad():
        prediction = predict_range_image(module, depth, mask, stride=32, batch_size=4)
    assert prediction.shape == depth.shape
    assert np.all((prediction[mask] >= 0) & (prediction[mask] <= 1))


def test_splat_point_cloud_keeps_nearest_point_per_pixel():
    camera = camera_looking_along(np.array([0.0, 0.0, 1.0]), np.zeros(3), 1.0, 0.1, 4)
    points = np.array([[0.05, 0.05, 0.5], [0.05, 0.05, 0.2], [-0.15, 0.05, 0.0]])
    depth, mask, flat = splat_point_cloud(points, camera)
    assert mask.sum() == 2
    assert depth.reshape(-1)[flat[0]] == pytest.approx(1.2)


def test_predict_mesh_then_curves_through_cli(untrained_run, tmp_path):
    mesh_path = tmp_path / "box.obj"
    trimesh.creation.box((1.0, 0.8, 0.6)).export(mesh_path)
    out = tmp_path / "pred.ply"
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(mesh_path), "--output", str(out),
                 "predict.n_views=3"]) == 0
    cloud = read_point_cloud(out)
    distances = np.load(tmp_path / "pred.distances.npy")
    assert len(cloud.points) == len(distances) > 1000 and cloud.colors is not None
    assert main(["curves", "--run-dir", str(untrained_run), "--points", str(out),
                 "--output", str(tmp_path / "curves.json")]) == 0
    assert (tmp_path / "curves.json").exists()


def test_predict_point_cloud_and_scans(untrained_run, tmp_path):
    from def_sharp.evaluate import load_module

    module = load_module(untrained_run)
    cfg = load("tiny", THREE_VIEWS)
    points = trimesh.creation.box((1.0, 1.0, 1.0)).sample(5000)
    distances = predict_point_cloud(module, points, cfg)
    assert distances.shape == (5000,) and np.isfinite(distances).all()
    camera = camera_looking_along(np.array([0.2, 0.1, -1.0]), np.zeros(3), 2.0, 0.02, 64)
    result = scan(trimesh.creation.box((1.0, 1.0, 1.0)), camera)
    scans_path = tmp_path / "scans.npz"
    np.savez(scans_path, depth=result.depth[None], c2w=camera.c2w[None], pixel_size=0.02)
    images = read_scans(scans_path)
    assert len(images) == 1 and images[0].mask.sum() == result.mask.sum()
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(scans_path),
                 "--output", str(tmp_path / "scans.ply"), "predict.n_views=3"]) == 0


def test_bad_inputs_give_one_line_errors(untrained_run, tmp_path, capsys):
    cfg = load("tiny", THREE_VIEWS)
    with pytest.raises(InputError, match="NaN"):
        predict_point_cloud(None, np.array([[0.0, 0.0, np.nan]] * 4), cfg)
    with pytest.raises(InputError, match="empty"):
        predict_point_cloud(None, np.zeros((0, 3)), cfg)
    bad_scans = tmp_path / "bad.npz"
    np.savez(bad_scans, depth=np.zeros((2, 8)), c2w=np.eye(4)[None], pixel_size=0.1)
    with pytest.raises(InputError, match="shape"):
        read_scans(bad_scans)
    open_mesh = trimesh.creation.box((1, 1, 1))
    open_mesh.update_faces(np.arange(len(open_mesh.faces)) > 0)
    open_path = tmp_path / "open.obj"
    open_mesh.export(open_path)
    for path in (open_path, tmp_path / "missing.ply"):
        with pytest.raises(SystemExit) as exit_info:
            main(["predict", "--run-dir", str(untrained_run), "--input", str(path),
                  "--output", str(tmp_path / "x.ply")])
        assert exit_info.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:")
