"""Every command that takes a file, a folder or a config, fed broken input: one `error:` line, exit code 2.

The broken files are generated here (shared_utils.testing factories), nothing is committed. Commands run in-process
(`run_main`); a few run as the console script to check the real stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from npbgpp_layouts import write_dtu, write_empty_ply, write_nerf_synthetic, write_scannet
from shared_utils.io import atomic_torch_save
from shared_utils.run import RunDir
from shared_utils.testing import (
    BROKEN_CONFIG_CASES,
    assert_clean_error,
    broken_config,
    console_script,
    npz_file,
    run_cli,
    run_main,
    text_as,
    truncated_copy,
    unwritable_root,
    with_nan,
    zero_byte,
)

from npbgpp.cli import main
from npbgpp.config import load
from npbgpp.data.synthetic import generate_scene
from npbgpp.models.npbgpp import NPBGPP
from npbgpp.train import MODEL_FILE

RUN_COMMANDS = ("eval", "build", "render", "finetune", "view")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A run folder with the tiny config and untrained weights (enough for every --run-dir command), the tiny
    synthetic data set, a built scene file and real-layout scenes to break."""
    root = tmp_path_factory.mktemp("bad-inputs")
    cfg = load("tiny", [f"data.root={root / 'data'}"])
    run = RunDir(root / "run").create()
    run.save_config(cfg)
    atomic_torch_save({"state_dict": NPBGPP(cfg).state_dict(), "step": 0}, run / MODEL_FILE)
    scene = generate_scene("holdout_00", 3, cfg.data.synthetic)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        built = root / "built.pt"
        assert main(["build", "--run-dir", str(run.path), "--scene", "holdout_00", "--out", str(built)]) == 0
    return {"root": root, "run": run.path, "built": built, "scene": scene}


def _scene_args(kind: str, folder: Path) -> list[str]:
    return [f"data.kind={kind}", f"data.root={folder.parent}", f"data.train_scenes=[{folder.name}]",
            "data.holdout_scenes=[]"]


def _broken_scene(workspace, tmp_path, kind: str, damage) -> list[str]:
    writer = {"nerf_synthetic": write_nerf_synthetic, "dtu": write_dtu, "scannet": write_scannet}[kind]
    folder = writer(workspace["scene"], tmp_path / "scenes" / "broken")
    damage(folder)
    return _scene_args(kind, folder)


def _nan_transforms(folder: Path) -> None:
    path = folder / "transforms_train.json"
    meta = json.loads(path.read_text())
    meta["frames"][0]["transform_matrix"][0][3] = float("nan")
    path.write_text(json.dumps(meta))


def _nan_cameras_npz(folder: Path) -> None:
    with np.load(folder / "cameras.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["world_mat_0"] = with_nan(arrays["world_mat_0"], 3)
    np.savez(folder / "cameras.npz", **arrays)


def _text_as_png(folder: Path) -> None:
    # The second frame: shared_utils' transforms reader takes the image size from the first one (a broken first
    # image is reported there as "gives no image size").
    second = json.loads((folder / "transforms_train.json").read_text())["frames"][1]["file_path"]
    text_as(folder, f"{second}.png")


def _text_as_ply(folder: Path) -> None:
    text_as(folder, "points.ply")


def _empty_cloud(folder: Path) -> None:
    write_empty_ply(folder / "points.ply")


def _zero_byte_cameras(folder: Path) -> None:
    zero_byte(folder, "cameras.npz")


def _nan_extrinsics(folder: Path) -> None:
    extrinsics = np.load(folder / "extrinsics.npy")
    np.save(folder / "extrinsics.npy", with_nan(extrinsics, 5))


SCENE_CASES = {
    "nan-camera-in-transforms.json": ("nerf_synthetic", _nan_transforms, "transforms_train.json"),
    "text-renamed-png": ("nerf_synthetic", _text_as_png, ".png"),
    "text-renamed-ply": ("nerf_synthetic", _text_as_ply, "points.ply"),
    "empty-point-cloud": ("nerf_synthetic", _empty_cloud, "points.ply"),
    "nan-camera-in-cameras.npz": ("dtu", _nan_cameras_npz, "cameras.npz"),
    "zero-byte-cameras.npz": ("dtu", _zero_byte_cameras, "cameras.npz"),
    "nan-scannet-extrinsics": ("scannet", _nan_extrinsics, "extrinsics.npy"),
}


@pytest.mark.parametrize("case", sorted(SCENE_CASES))
@pytest.mark.parametrize("command", ["make-data", "build", "finetune"])
def test_broken_scene_files(workspace, tmp_path, capsys, command, case):
    kind, damage, named = SCENE_CASES[case]
    overrides = _broken_scene(workspace, tmp_path, kind, damage)
    if command == "make-data":
        argv = ["make-data", "--config", "tiny", *overrides]
    else:
        argv = [command, "--run-dir", str(workspace["run"]), "--scene", "broken", *overrides]
        argv += ["--out", str(tmp_path / "x.pt")] if command == "build" else ["--output-dir", str(tmp_path / "ft")]
    assert_clean_error(run_main(main, argv, capsys), named)



@pytest.mark.parametrize("case", BROKEN_CONFIG_CASES)
@pytest.mark.parametrize("command", ["make-data", "train", "pipeline"])
def test_bad_config(tmp_path, capsys, command, case):
    config, named = broken_config(tmp_path, case)
    argv = [command, "--config", config] + (["--output-dir", str(tmp_path / "out")] if command != "make-data" else [])
    assert_clean_error(run_main(main, argv, capsys), named)


@pytest.mark.parametrize("command", ["make-data", "train", "pipeline"])
def test_unknown_override_key(tmp_path, capsys, command):
    argv = [command, "--config", "tiny", "train.trainer.max_steps=3"]
    argv += ["--output-dir", str(tmp_path / "out")] if command != "make-data" else []
    assert_clean_error(run_main(main, argv, capsys), "train.trainer")


def _run_argv(command: str, run_dir: Path, workspace, tmp_path: Path) -> list[str]:
    argv = [command, "--run-dir", str(run_dir)]
    if command in ("build", "finetune", "view"):
        argv += ["--scene", "holdout_00"]
    if command == "view":  # every case fails before the server starts; a valid call would serve until Ctrl-C
        argv += ["--port", "0"]
    if command == "build":
        argv += ["--out", str(tmp_path / "scene.pt")]
    if command == "finetune":
        argv += ["--output-dir", str(tmp_path / "ft")]
    if command == "render":
        argv += ["--scene-file", str(workspace["built"]), "--orbit", "1", "--out", str(tmp_path / "frames")]
    return argv


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_config_with_run_dir_is_refused(workspace, tmp_path, capsys, command):
    argv = _run_argv(command, workspace["run"], workspace, tmp_path) + ["--config", "tiny"]
    assert_clean_error(run_main(main, argv, capsys), "--config")


def _copy_run(workspace, tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "copy").create()
    run.config.write_text(RunDir(workspace["run"]).config.read_text())
    return run


MODEL_CASES = {
    "missing-run-folder": lambda run, src: run.path.joinpath("absent").mkdir() or None,
    "run-without-config": None,
    "run-without-checkpoint": lambda run, src: None,
    "truncated-checkpoint": lambda run, src: truncated_copy(src, run.path).rename(run / MODEL_FILE),
    "text-checkpoint": lambda run, src: text_as(run.path, MODEL_FILE),
    "zero-byte-checkpoint": lambda run, src: zero_byte(run.path, MODEL_FILE),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_bad_run_folder(workspace, tmp_path, capsys, command, case):
    source = Path(workspace["run"]) / MODEL_FILE
    if case == "missing-run-folder":
        run_dir, named = tmp_path / "never-trained", "never-trained"
    elif case == "run-without-config":
        run_dir, named = tmp_path, "config.yaml"
    else:
        run = _copy_run(workspace, tmp_path)
        MODEL_CASES[case](run, source)
        run_dir, named = run.path, MODEL_FILE
    argv = _run_argv(command, run_dir, workspace, tmp_path)
    assert_clean_error(run_main(main, argv, capsys), named)


SCENE_FILE_CASES = {
    "truncated-scene-file": lambda folder, built: truncated_copy(built, folder),
    "text-scene-file": lambda folder, built: text_as(folder, "scene.pt"),
    "zero-byte-scene-file": lambda folder, built: zero_byte(folder, "scene.pt"),
    "missing-scene-file": lambda folder, built: folder / "absent.pt",
    "scene-file-without-descriptors": lambda folder, built: _saved(folder / "weights.pt", {"step": 1}),
}


def _saved(path: Path, data) -> Path:
    torch.save(data, path)
    return path


@pytest.mark.parametrize("case", sorted(SCENE_FILE_CASES))
@pytest.mark.parametrize("command", ["render", "view"])
def test_bad_scene_file(workspace, tmp_path, capsys, command, case):
    path = SCENE_FILE_CASES[case](tmp_path, workspace["built"])
    argv = [command, "--run-dir", str(workspace["run"]), "--scene-file", str(path)]
    argv += ["--orbit", "1", "--out", str(tmp_path / "frames")] if command == "render" else ["--port", "0"]
    assert_clean_error(run_main(main, argv, capsys), path.name)


def test_view_takes_one_scene(workspace, capsys):
    argv = ["view", "--run-dir", str(workspace["run"]), "--scene", "holdout_00", "--scene-file",
            str(workspace["built"])]
    assert_clean_error(run_main(main, argv, capsys), "--scene-file")


def _cameras(scene) -> dict:
    return {"intrinsics": scene.intrinsics[:2].numpy(), "w2c": scene.w2c[:2].numpy()}


CAMERA_CASES = {
    "nan-cameras": lambda folder, scene: npz_file(folder, "cams.npz", **{**_cameras(scene), "w2c": with_nan(
        _cameras(scene)["w2c"], 7)}),
    "zero-byte-cameras": lambda folder, scene: zero_byte(folder, "cams.npz"),
    "text-cameras": lambda folder, scene: text_as(folder, "cams.npz"),
    "cameras-without-w2c": lambda folder, scene: npz_file(folder, "cams.npz", intrinsics=_cameras(scene)["intrinsics"]),
    "wrong-shaped-cameras": lambda folder, scene: npz_file(folder, "cams.npz", intrinsics=np.eye(3)[None],
                                                           w2c=np.eye(3)[None]),
}


@pytest.mark.parametrize("case", sorted(CAMERA_CASES))
def test_bad_cameras_for_render(workspace, tmp_path, capsys, case):
    path = CAMERA_CASES[case](tmp_path, workspace["scene"])
    argv = ["render", "--run-dir", str(workspace["run"]), "--scene-file", str(workspace["built"]),
            "--cameras", str(path), "--out", str(tmp_path / "frames")]
    assert_clean_error(run_main(main, argv, capsys), path.name)


@pytest.mark.parametrize("command", ["make-data", "train", "pipeline"])
def test_data_root_through_a_file(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("THESIS_DATA_ROOT", str(unwritable_root(tmp_path)))
    argv = [command, "--config", "tiny"] + (["--output-dir", str(tmp_path / "out")] if command != "make-data" else [])
    assert_clean_error(run_main(main, argv, capsys), "a-file")


@pytest.mark.parametrize("command", ["make-data", "build"])
def test_configured_data_root_through_a_file(workspace, tmp_path, capsys, command):
    root = unwritable_root(tmp_path)
    argv = ["make-data", "--config", "tiny"] if command == "make-data" else _run_argv(
        "build", workspace["run"], workspace, tmp_path)
    assert_clean_error(run_main(main, [*argv, f"data.root={root}"], capsys), "a-file")


@pytest.mark.parametrize("command", ["train", "pipeline"])
def test_output_folder_through_a_file(tmp_path, capsys, command):
    argv = [command, "--config", "tiny", "--output-dir", str(unwritable_root(tmp_path))]
    assert_clean_error(run_main(main, argv, capsys), "a-file")


def test_build_output_through_a_file(workspace, tmp_path, capsys):
    argv = ["build", "--run-dir", str(workspace["run"]), "--scene", "holdout_00", "--out",
            str(unwritable_root(tmp_path) / "scene.pt")]
    assert_clean_error(run_main(main, argv, capsys), "a-file")


def test_unknown_scene(workspace, tmp_path, capsys):
    argv = ["build", "--run-dir", str(workspace["run"]), "--scene", "nope", "--out", str(tmp_path / "x.pt")]
    assert_clean_error(run_main(main, argv, capsys), "nope")


def test_console_script_prints_one_line(workspace, tmp_path):
    """The installed script, not only main(): nothing but the error line reaches stderr (progress goes to stdout)."""
    built = zero_byte(tmp_path, "scene.pt")
    argv = ["render", "--run-dir", str(workspace["run"]), "--scene-file", str(built), "--out", str(tmp_path / "o")]
    assert_clean_error(run_cli([console_script("npbgpp"), *argv], cwd=tmp_path), "scene.pt", "empty")


@pytest.mark.parametrize("case", sorted(name for name, (kind, _, named) in SCENE_CASES.items()
                                        if kind != "scannet" and named != "points.ply"))
def test_broken_scene_files_for_make_points(workspace, tmp_path, capsys, case):
    kind, damage, named = SCENE_CASES[case]
    writer = write_nerf_synthetic if kind == "nerf_synthetic" else write_dtu
    folder = writer(workspace["scene"], tmp_path / "scene")
    damage(folder)
    argv = ["make-points", "--scene-dir", str(folder), "--out", str(tmp_path / "points.ply")]
    assert_clean_error(run_main(main, argv, capsys), named)


def test_make_points_into_a_path_through_a_file(workspace, tmp_path, capsys):
    folder = write_dtu(workspace["scene"], tmp_path / "scene")
    argv = ["make-points", "--scene-dir", str(folder), "--out", str(unwritable_root(tmp_path) / "points.ply")]
    assert_clean_error(run_main(main, argv, capsys), "a-file")


def test_make_points_on_a_missing_folder(tmp_path, capsys):
    argv = ["make-points", "--scene-dir", str(tmp_path / "absent")]
    assert_clean_error(run_main(main, argv, capsys), "absent")
