"""Whole-model prediction (`def-sharp predict`, `def-sharp curves`) and bad input, with an untrained tiny network."""

import numpy as np
import pytest
import torch
import trimesh
from def_sharp.cli import main
from def_sharp.config import load
from def_sharp.data.scanning import camera_looking_along, scan
from def_sharp.lightning import DEFModule
from def_sharp.whole_model import check_density, mesh_scale, predict_point_cloud, predict_range_image, splat_point_cloud
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


def test_splat_point_cloud_keeps_the_front_surface_per_pixel():
    camera = camera_looking_along(np.array([0.0, 0.0, 1.0]), np.zeros(3), 1.0, 0.1, 4)
    points = np.array([[0.05, 0.05, 0.5], [0.05, 0.05, 0.2], [0.02, 0.08, 0.22], [-0.15, 0.05, 0.0]])
    depth, mask, flat = splat_point_cloud(points, camera, front_tolerance=0.05)
    assert mask.sum() == 2
    # The two front points of the pixel (depths 1.2 and 1.22) are averaged; the one behind (1.5) is not.
    assert depth.reshape(-1)[flat[0]] == pytest.approx(1.21)


def test_mesh_scale_is_the_defsim_normalisation_and_scale_overrides():
    cfg = load("tiny")
    box = trimesh.creation.box((4.0, 2.0, 1.0))
    curves_quantile = np.quantile([4.0] * 4 + [2.0] * 4 + [1.0] * 4, cfg.data.shapes.curve_length_quantile)
    # largest extent 4 -> 10 (factor 2.5), then the curve-length quantile (in the scaled box) -> 1
    assert mesh_scale(box, cfg, None).factor == pytest.approx(2.5 / (2.5 * curves_quantile))
    assert mesh_scale(box, cfg, 0.3).factor == 0.3


def test_predict_reports_distances_in_the_input_units(untrained_run, tmp_path, capsys):
    """The same box in millimetres and in metres: the same points (scaled), distances scaled by the same 1000."""
    box = trimesh.creation.box((1.0, 0.8, 0.6))
    outputs = {}
    for unit, factor in (("m", 1.0), ("mm", 1000.0)):
        mesh = box.copy().apply_scale(factor)
        path = tmp_path / f"box_{unit}.stl"  # STL: every triangle has its own corners until merged
        mesh.export(path)
        out = tmp_path / f"pred_{unit}.ply"
        assert main(["predict", "--run-dir", str(untrained_run), "--input", str(path), "--output", str(out),
                     "predict.n_views=3"]) == 0
        assert "rescaled by" in capsys.readouterr().err
        outputs[unit] = (read_point_cloud(out).points, np.load(out.with_suffix(".distances.npy")))
    assert np.allclose(outputs["mm"][0], 1000 * outputs["m"][0], rtol=1e-4, atol=1e-2)
    assert np.allclose(outputs["mm"][1], 1000 * outputs["m"][1], rtol=1e-3, atol=1e-3)
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(tmp_path / "box_mm.stl"),
                 "--output", str(tmp_path / "fixed.ply"), "--scale", "0.002", "predict.n_views=3"]) == 0
    assert "0.002 (--scale)" in capsys.readouterr().err


def test_open_mesh_and_partial_cloud_work(untrained_run, tmp_path, capsys):
    open_mesh = trimesh.creation.box((1, 1, 1))
    open_mesh.update_faces(np.arange(len(open_mesh.faces)) > 1)  # one square face removed
    open_path = tmp_path / "open.obj"
    open_mesh.export(open_path)
    out = tmp_path / "open.ply"
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(open_path), "--output", str(out),
                 "predict.n_views=3"]) == 0
    assert "open" in capsys.readouterr().err and len(np.load(out.with_suffix(".distances.npy"))) > 1000
    cloud = trimesh.creation.box((1, 1, 1)).sample(60_000, seed=0)
    half = tmp_path / "half.npy"
    np.save(half, cloud[cloud[:, 2] > 0])  # a scan that saw only the top half
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(half), "--output",
                 str(tmp_path / "half.ply"), "--scale", "2.0", "predict.n_views=3"]) == 0
    distances = np.load(tmp_path / "half.distances.npy")
    assert len(distances) == (cloud[:, 2] > 0).sum() and np.isfinite(distances).all()


def test_sparse_clouds_are_refused_or_warned_with_the_density_they_need(tmp_path):
    rng = np.random.default_rng(0)
    square = np.c_[rng.uniform(0, 1, (10_000, 2)), np.zeros(10_000)]  # 1e-4 of area per point: spacing 0.01
    assert check_density(square, 0.04, 1.0) is None  # 16 points per pixel
    warning = check_density(square, 0.02, 10.0)  # 4 points per pixel
    assert "too sparse" in warning
    needed = int(warning.split("about ")[1].split(" points")[0])
    assert 10_000 * 10 / 4 * 0.8 < needed < 10_000 * 10 / 4 * 1.25
    with pytest.raises(InputError, match=r"about \d+ points \(now 10000\) would give 10 points per pixel"):
        check_density(square, 0.005, 1.0)  # 0.25 points per pixel


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
    assert main(["predict", "--run-dir", str(untrained_run), "--input", str(scans_path),
                 "--output", str(tmp_path / "scans.ply"), "predict.n_views=3"]) == 0
    assert len(np.load(tmp_path / "scans.distances.npy")) == result.mask.sum()


def test_bad_inputs_give_one_line_errors(untrained_run, tmp_path, capsys):
    cfg = load("tiny", THREE_VIEWS)
    with pytest.raises(InputError, match="NaN"):
        predict_point_cloud(None, np.array([[0.0, 0.0, np.nan]] * 4), cfg)
    with pytest.raises(InputError, match="empty"):
        predict_point_cloud(None, np.zeros((0, 3)), cfg)
    sparse = tmp_path / "sparse.xyz"
    np.savetxt(sparse, trimesh.creation.box((1, 1, 1)).sample(300, seed=0))
    for argv in (["--input", str(tmp_path / "missing.ply")], ["--input", str(sparse), "--scale", "1.0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["predict", "--run-dir", str(untrained_run), *argv, "--output", str(tmp_path / "x.ply")])
        assert exit_info.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:")
    assert "too sparse" in lines[0]
