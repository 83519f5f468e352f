"""Every def-sharp command that takes a file, a folder or a config, fed broken ones: each must end in exactly one
`error:` line naming the file/key and the problem, exit code 2, no traceback. The broken files are generated.
Output is captured at the file-descriptor level (capfd), so that messages C++ readers print count too."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from def_sharp.cli import main
from def_sharp.data.scanning import camera_looking_along, scan
from shared_utils.io import write_point_cloud
from shared_utils.run import RunDir
from shared_utils.testing import (
    BROKEN_CONFIG_CASES,
    assert_clean_error,
    broken_config,
    npz_file,
    pickled_npy,
    run_main,
    text_as,
    truncated_copy,
    unwritable_root,
    with_nan,
    zero_byte,
)

CONFIG_COMMANDS = [("make-data", []), ("train", ["--output-dir", "run"]), ("pipeline", ["--output-dir", "run"])]
RUN_COMMANDS = ["eval", "predict", "curves", "view"]



@pytest.mark.parametrize("case", BROKEN_CONFIG_CASES)
@pytest.mark.parametrize("command,extra", CONFIG_COMMANDS, ids=[c for c, _ in CONFIG_COMMANDS])
def test_bad_config(command, extra, case, tmp_path, capfd):
    value, named = broken_config(tmp_path, case, unknown_key="data.shapes.n_trian")
    assert_clean_error(run_main(main, [command, *extra, "--config", value], capfd), named)


@pytest.mark.parametrize("command,extra", CONFIG_COMMANDS, ids=[c for c, _ in CONFIG_COMMANDS])
def test_bad_override(command, extra, tmp_path, capfd):
    assert_clean_error(run_main(main, [command, *extra, "--config", "tiny", "trainer.max_step=2"], capfd),
                       "trainer.max_step")
    assert_clean_error(run_main(main, [command, *extra, "--config", "tiny", "seed"], capfd), "seed")


@pytest.mark.parametrize("command,extra", CONFIG_COMMANDS, ids=[c for c, _ in CONFIG_COMMANDS])
def test_data_root_through_a_file(command, extra, tmp_path, monkeypatch, capfd):
    root = unwritable_root(tmp_path)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(root))
    assert_clean_error(run_main(main, [command, *extra, "--config", "tiny"], capfd), "a-file")
    monkeypatch.delenv("THESIS_DATA_ROOT")
    assert_clean_error(run_main(main, [command, *extra, "--config", "tiny", f"data.root={root}"], capfd), "a-file")


def test_eval_with_data_root_through_a_file(untrained_run, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("THESIS_DATA_ROOT", str(unwritable_root(tmp_path)))
    assert_clean_error(run_main(main, ["eval", "--run-dir", str(untrained_run)], capfd), "a-file")


@pytest.mark.parametrize("command", ["train", "pipeline"])
def test_output_folder_through_a_file(command, tmp_path, capfd):
    output = unwritable_root(tmp_path)
    assert_clean_error(run_main(main, [command, "--output-dir", str(output), "--config", "tiny"], capfd), "a-file")


def _run_args(command: str, run: Path, folder: Path) -> list[str]:
    """A valid invocation of a run command, apart from what each test breaks."""
    if command == "eval":
        return ["eval", "--run-dir", str(run)]
    if command == "predict":
        mesh = folder / "box.obj"
        trimesh.creation.box((1.0, 0.8, 0.6)).export(mesh)
        return ["predict", "--run-dir", str(run), "--input", str(mesh), "--output", str(folder / "pred.ply")]
    points = folder / "pred.ply"
    cloud = np.random.default_rng(0).uniform(-0.5, 0.5, size=(500, 3))
    write_point_cloud(points, cloud)
    np.save(folder / "pred.distances.npy", np.full(len(cloud), 0.1))
    if command == "view":  # every case fails before the server starts; a valid call would serve until Ctrl-C
        return ["view", "--run-dir", str(run), "--points", str(points), "--port", "0"]
    return ["curves", "--run-dir", str(run), "--points", str(points), "--output", str(folder / "curves.json")]


def _copy_run(untrained_run: Path, folder: Path) -> RunDir:
    target = folder / "run"
    shutil.copytree(untrained_run, target)
    return RunDir(target)


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_config_is_refused_on_an_existing_run(command, untrained_run, tmp_path, capfd):
    argv = _run_args(command, untrained_run, tmp_path)
    assert_clean_error(run_main(main, [*argv, "--config", "tiny"], capfd), "--config")


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_missing_run_folder_and_run_folder_without_config(command, tmp_path, capfd):
    assert_clean_error(run_main(main, _run_args(command, tmp_path / "nowhere", tmp_path), capfd), "nowhere")
    (tmp_path / "empty-run").mkdir()
    assert_clean_error(run_main(main, _run_args(command, tmp_path / "empty-run", tmp_path), capfd), "config.yaml")
    assert_clean_error(run_main(main, _run_args(command, unwritable_root(tmp_path), tmp_path), capfd), "a-file")


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("case", ["no checkpoint", "zero-byte", "text", "truncated", "not a DEF checkpoint"])
def test_broken_checkpoint(command, case, untrained_run, tmp_path, capfd):
    run = _copy_run(untrained_run, tmp_path)
    checkpoint = run.last_checkpoint
    if case == "no checkpoint":
        checkpoint.unlink()
        named = "no checkpoint"
    elif case == "zero-byte":
        zero_byte(run.checkpoints, checkpoint.name)
        named = "last.ckpt"
    elif case == "text":
        text_as(run.checkpoints, checkpoint.name)
        named = "last.ckpt"
    elif case == "truncated":
        shutil.move(truncated_copy(checkpoint, tmp_path), checkpoint)
        named = "last.ckpt"
    else:
        import torch

        torch.save({"weights": torch.zeros(3)}, checkpoint)
        named = "last.ckpt"
    assert_clean_error(run_main(main, _run_args(command, run.path, tmp_path), capfd), named)


def _scans(folder: Path, **changes) -> Path:
    camera = camera_looking_along(np.array([0.2, 0.1, -1.0]), np.zeros(3), 2.0, 0.02, 48)
    result = scan(trimesh.creation.box((0.6, 0.6, 0.6)), camera)
    arrays = {"depth": result.depth[None], "c2w": camera.c2w[None], "pixel_size": np.float64(0.02), **changes}
    return npz_file(folder, "scans.npz", **arrays)


def _predict_input(folder: Path, case: str) -> tuple[Path, str]:
    """A broken --input for predict and the text its error line must contain."""
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    camera = camera_looking_along(np.array([0.2, 0.1, -1.0]), np.zeros(3), 2.0, 0.02, 48)
    if case == "missing":
        return folder / "nothing.obj", "nothing.obj"
    if case.startswith("zero-byte"):
        return zero_byte(folder, "empty" + case.split()[-1]), "empty"
    if case.startswith("text as"):
        return text_as(folder, "text" + case.split()[-1]), "text"
    if case == "pickled .npy":
        return pickled_npy(folder), "pickled"
    if case == "pickled .npz":
        return npz_file(folder, "pickled.npz", depth=np.array([{"a": 1}], dtype=object)), "pickled"
    if case == "NaN c2w":
        return _scans(folder, c2w=with_nan(camera.c2w[None], 3)), "c2w"
    if case == "NaN depth":
        depth = scan(box, camera).depth[None]
        return _scans(folder, depth=with_nan(depth, depth.size // 2)), "depth"
    if case == "scans without c2w":
        return npz_file(folder, "scans.npz", depth=np.ones((1, 8, 8)), pixel_size=np.float64(0.1)), "c2w"
    if case == "wrong-shaped depth":
        return _scans(folder, depth=np.ones((8, 8))), "depth"
    if case == "wrong-shaped c2w":
        return _scans(folder, c2w=np.eye(3)[None]), "c2w"
    if case == "non-rigid c2w":
        return _scans(folder, c2w=2 * camera.c2w[None]), "c2w"
    if case == "zero pixel_size":
        return _scans(folder, pixel_size=np.float64(0.0)), "pixel_size"
    if case == "empty cloud .npy":
        path = folder / "empty_cloud.npy"
        np.save(path, np.zeros((0, 3)))
        return path, "empty_cloud.npy"
    if case == "empty cloud .ply":
        path = folder / "empty_cloud.ply"
        path.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
                        "property float z\nend_header\n")
        return path, "empty_cloud.ply"
    if case == "wrong-shaped cloud .npy":
        path = folder / "cloud.npy"
        np.save(path, np.zeros((10, 2)))
        return path, "cloud.npy"
    if case == "NaN cloud .npy":
        path = folder / "cloud.npy"
        np.save(path, with_nan(box.sample(100, seed=0)))
        return path, "cloud.npy"
    if case == "NaN mesh vertices":
        path = folder / "nan.obj"
        mesh = box.copy()
        mesh.vertices[0] = np.nan
        lines = [f"v {x} {y} {z}" for x, y, z in mesh.vertices] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in
                                                                   mesh.faces]
        path.write_text("\n".join(lines) + "\n")
        return path, "nan.obj"
    if case == "unknown suffix":
        return text_as(folder, "points.txt"), ".txt"
    raise AssertionError(case)


PREDICT_CASES = [
    "missing", "zero-byte .npz", "zero-byte .npy", "zero-byte .ply", "zero-byte .obj", "zero-byte .stl",
    "zero-byte .off", "text as .ply", "text as .obj", "text as .stl", "text as .off", "text as .npz", "text as .npy",
    "pickled .npy", "pickled .npz", "NaN c2w", "NaN depth", "scans without c2w", "wrong-shaped depth",
    "wrong-shaped c2w", "non-rigid c2w", "zero pixel_size", "empty cloud .npy", "empty cloud .ply",
    "wrong-shaped cloud .npy", "NaN cloud .npy", "NaN mesh vertices", "unknown suffix",
]


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_bad_input(case, untrained_run, tmp_path, capfd):
    path, named = _predict_input(tmp_path, case)
    argv = ["predict", "--run-dir", str(untrained_run), "--input", str(path), "--output", str(tmp_path / "out.ply")]
    assert_clean_error(run_main(main, argv, capfd), named)


def test_output_through_a_file(untrained_run, tmp_path, capfd):
    path = _scans(tmp_path)
    argv = ["predict", "--run-dir", str(untrained_run), "--input", str(path),
            "--output", str(unwritable_root(tmp_path) / "out.ply")]
    assert_clean_error(run_main(main, argv, capfd), "a-file")
    argv = _run_args("curves", untrained_run, tmp_path)
    argv[argv.index("--output") + 1] = str(tmp_path / "a-file" / "curves.json")
    assert_clean_error(run_main(main, argv, capfd), "a-file")


@pytest.mark.parametrize("case", ["missing distances", "zero-byte", "pickled", "NaN", "wrong shape", "wrong length",
                                  "negative", "text"])
@pytest.mark.parametrize("command", ["curves", "view"])
def test_curves_bad_distances(command, case, untrained_run, tmp_path, capfd):
    argv = _run_args(command, untrained_run, tmp_path)
    distances = tmp_path / "pred.distances.npy"
    if case == "missing distances":
        distances.unlink()
    elif case == "zero-byte":
        zero_byte(tmp_path, distances.name)
    elif case == "pickled":
        pickled_npy(tmp_path, distances.name)
    elif case == "NaN":
        np.save(distances, with_nan(np.full(500, 0.1), 7))
    elif case == "wrong shape":
        np.save(distances, np.full((500, 2), 0.1))
    elif case == "wrong length":
        np.save(distances, np.full(499, 0.1))
    elif case == "negative":
        np.save(distances, np.full(500, -0.1))
    else:
        text_as(tmp_path, distances.name)
    assert_clean_error(run_main(main, argv, capfd), "pred.distances.npy")


@pytest.mark.parametrize("case", ["missing", "zero-byte", "text", "empty cloud", "NaN points"])
@pytest.mark.parametrize("command", ["curves", "view"])
def test_curves_bad_points(command, case, untrained_run, tmp_path, capfd):
    argv = _run_args(command, untrained_run, tmp_path)
    points = tmp_path / "pred.ply"
    if case == "missing":
        points.unlink()
    elif case == "zero-byte":
        zero_byte(tmp_path, points.name)
    elif case == "text":
        text_as(tmp_path, points.name)
    elif case == "empty cloud":
        points.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
                          "property float z\nend_header\n")
    else:
        points.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                          "property float z\nend_header\nnan 0 0\n1 1 1\n")
    assert_clean_error(run_main(main, argv, capfd), "pred.ply")



def test_view_of_curves_needs_their_points_and_their_line_set(untrained_run, tmp_path, capfd):
    curves = tmp_path / "curves.json"
    argv = ["view", "--run-dir", str(untrained_run), "--curves", str(curves)]
    assert_clean_error(run_main(main, argv, capfd), "--points")
    argv = [*_run_args("view", untrained_run, tmp_path), "--curves", str(curves)]
    assert_clean_error(run_main(main, argv, capfd), "curves.ply")


def test_view_of_a_run_without_3d_results(untrained_run, capfd):
    argv = ["view", "--run-dir", str(untrained_run), "--port", "0"]
    assert_clean_error(run_main(main, argv, capfd), "no mesh, point cloud or line set")
