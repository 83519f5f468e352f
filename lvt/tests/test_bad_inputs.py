"""Every lvt command that takes a file, a folder or a config refuses bad input with one `error:` line naming it
(exit code 2, no traceback). The broken files are generated here, from the tiny reference run where one is needed."""

import shutil

import numpy as np
import pytest
from lvt.cli import main
from lvt.config import load
from lvt.data.videos import synthetic_path
from shared_utils.io import write_image, write_video
from shared_utils.testing import (
    BROKEN_CONFIG_CASES,
    assert_clean_error,
    broken_config,
    missing,
    pickled_npy,
    run_main,
    text_as,
    truncated_copy,
    unwritable_root,
    zero_byte,
)

TINY = ["--config", "tiny"]
NEW_RUN = {"make-data": [], "train": ["--output-dir", "out"], "pipeline": ["--output-dir", "out"]}


def _broken_config_case(case: str):
    def make(tmp):
        value, named = broken_config(tmp, case, unknown_key="vqvae.codebook_sise")
        return ["--config", value], [named]

    return make


CONFIG_CASES = {
    **{f"{case} config": _broken_config_case(case) for case in BROKEN_CONFIG_CASES},
    "wrongly typed override": lambda tmp: ([*TINY, "vqvae.lr=fast"], ["vqvae.lr"]),
    "unknown override key": lambda tmp: ([*TINY, "sample.tempreature=1"], ["sample.tempreature"]),
    "data root through a file": lambda tmp: ([*TINY, f"data.root={unwritable_root(tmp)}"], ["a-file"]),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
@pytest.mark.parametrize("command", NEW_RUN)
def test_config_and_data_root_errors(command, case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv, mentions = CONFIG_CASES[case](tmp_path)
    assert_clean_error(run_main(main, [command, *NEW_RUN[command], *argv], capsys), *mentions)


@pytest.mark.parametrize("command", NEW_RUN)
def test_thesis_data_root_that_is_a_file_or_lies_under_one(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(unwritable_root(tmp_path)))
    assert_clean_error(run_main(main, [command, *NEW_RUN[command], *TINY], capsys), "a-file")
    monkeypatch.setenv("THESIS_DATA_ROOT", str(text_as(tmp_path, "root-file")))
    assert_clean_error(run_main(main, [command, *NEW_RUN[command], *TINY], capsys), "root-file")


@pytest.mark.parametrize("command", ["train", "pipeline"])
def test_output_folder_through_a_file(command, tmp_path, capsys):
    argv = [command, "--output-dir", str(unwritable_root(tmp_path)), *TINY]
    assert_clean_error(run_main(main, argv, capsys), "a-file")


# --- commands on an existing run: eval, sample -------------------------------------------------------------------

def _run_copy(tmp, reference_run):
    run = tmp / "run"
    shutil.copytree(reference_run, run)
    return run


def _break(relative: str, how: str):
    def make(tmp, reference_run):
        run = _run_copy(tmp, reference_run)
        target = run / relative
        if how == "missing":
            target.unlink()
        elif how == "zero-byte":
            zero_byte(target.parent, target.name)
        elif how == "text":
            text_as(target.parent, target.name)
        elif how == "truncated":
            shutil.move(truncated_copy(target, tmp), target)
        return ["--run-dir", str(run)], [target.name]
    return make


def _latents_of_wrong_shape(tmp, reference_run):
    import torch

    run = _run_copy(tmp, reference_run)
    torch.save({"codes": torch.zeros(4, 4, dtype=torch.int16), "codebook_hash": "x"}, run / "latents" / "test.pt")
    return ["--run-dir", str(run)], ["test.pt", "codes"]


def _saved_config(text: str | None):
    def make(tmp, reference_run):
        run = _run_copy(tmp, reference_run)
        if text is None:
            (run / "config.yaml").unlink()
        else:
            (run / "config.yaml").write_text(text)
        return ["--run-dir", str(run)], ["config.yaml"]
    return make


def _without_checkpoints(tmp, reference_run):
    run = tmp / "untrained"
    run.mkdir()
    shutil.copy(reference_run / "config.yaml", run / "config.yaml")
    return ["--run-dir", str(run)], ["weights.pt", "not found"]


RUN_CASES = {
    "--config with --run-dir": lambda tmp, ref: (["--run-dir", str(ref), "--config", "tiny"], ["--config"]),
    "missing run folder": lambda tmp, ref: (["--run-dir", str(missing(tmp, "run"))], ["not found"]),
    "run folder is a file": lambda tmp, ref: (["--run-dir", str(text_as(tmp, "run"))], ["not a folder"]),
    "run folder without config.yaml": _saved_config(None),
    "zero-byte saved config": _saved_config(""),
    "list-valued saved config": _saved_config("- 1\n- 2\n"),
    "run folder without checkpoint": _without_checkpoints,
    "missing VQ-VAE weights": _break("vqvae/weights.pt", "missing"),
    "zero-byte VQ-VAE weights": _break("vqvae/weights.pt", "zero-byte"),
    "text as VQ-VAE weights": _break("vqvae/weights.pt", "text"),
    "truncated VQ-VAE weights": _break("vqvae/weights.pt", "truncated"),
    "truncated transformer weights": _break("transformer/weights.pt", "truncated"),
    "text as latent cache": _break("latents/test.pt", "text"),
    "latent cache of wrong shape": _latents_of_wrong_shape,
    "unknown override key": lambda tmp, ref: (["--run-dir", str(ref), "eval.fvd_trails=2"], ["eval.fvd_trails"]),
}


@pytest.mark.parametrize("case", RUN_CASES)
@pytest.mark.parametrize("command", ["eval", "sample"])
def test_run_folder_errors(command, case, tmp_path, tiny_reference_run, capsys):
    argv, mentions = RUN_CASES[case](tmp_path, tiny_reference_run[0])
    assert_clean_error(run_main(main, [command, *argv], capsys), *mentions)


@pytest.mark.parametrize("how", ["zero-byte", "text", "truncated"])
def test_damaged_resume_checkpoint_is_named(how, tmp_path, tiny_reference_run, capsys):
    run = _run_copy(tmp_path, tiny_reference_run[0])
    (run / "vqvae" / "weights.pt").unlink()  # the stage is unfinished: train resumes from its last.ckpt
    target = run / "vqvae" / "checkpoints" / "last.ckpt"
    if how == "zero-byte":
        zero_byte(target.parent, target.name)
    elif how == "text":
        text_as(target.parent, target.name)
    else:
        shutil.move(truncated_copy(target, tmp_path), target)
    assert_clean_error(run_main(main, ["train", "--output-dir", str(run), *TINY], capsys), "last.ckpt")


# --- data files: the generated-video cache, video folders, BAIR frame folders --------------------------------------

def _cache_with(tmp, how):
    path = synthetic_path(load("tiny").data, "train")
    if how == "zero-byte":
        zero_byte(path.parent, path.name)
    elif how == "text":
        text_as(path.parent, path.name)
    elif how == "pickled":
        shutil.move(pickled_npy(tmp), path)
    elif how == "wrong shape":
        np.save(path, np.zeros((8, 4, 32, 32), dtype=np.uint8))
    elif how == "wrong dtype":
        np.save(path, np.zeros((8, 4, 32, 32, 3), dtype=np.float32))
    return path


@pytest.mark.parametrize("how", ["zero-byte", "text", "pickled", "wrong shape", "wrong dtype"])
def test_damaged_video_cache_is_named(how, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = _cache_with(tmp_path, how)
    assert_clean_error(run_main(main, ["make-data", *TINY], capsys), path.name)


def _video(path, frames=6, size=40):
    write_video(path, np.full((frames, size, size, 3), 128, dtype=np.uint8), fps=5)
    return path


def _video_folder(tmp, how):
    root = tmp / "videos"
    _video(root / "test" / "ok.mp4")
    if how == "missing split":
        return root, "train"
    (root / "train").mkdir(parents=True)
    if how == "empty split":
        return root, "train"
    good = _video(root / "train" / "good.mp4")
    if how == "text as video":
        return root, text_as(root / "train", "clip.mp4").name
    if how == "zero-byte video":
        return root, zero_byte(root / "train", "clip.mp4").name
    if how == "truncated video":
        return root, shutil.move(truncated_copy(good, tmp, 0.3), root / "train" / "clip.mp4").name
    if how == "too short video":
        return root, _video(root / "train" / "clip.mp4", frames=2).name
    raise ValueError(how)


@pytest.mark.parametrize("how", ["missing split", "empty split", "text as video", "zero-byte video",
                                 "truncated video", "too short video"])
def test_bad_video_folder_is_named(how, tmp_path, capsys):
    root, mention = _video_folder(tmp_path, how)
    argv = ["make-data", *TINY, "data.source=video_folder", f"data.root={root}"]
    assert_clean_error(run_main(main, argv, capsys), mention)


@pytest.mark.parametrize("how", ["wrong resolution", "missing frame", "text as frame"])
def test_bad_bair_frames_are_named(how, tmp_path, capsys):
    root = tmp_path / "bair"
    for split in ("train", "test"):
        for t in range(4):
            size = 16 if how == "wrong resolution" and split == "train" else 32
            write_image(root / split / "traj_0" / "0" / f"{t}.png", np.zeros((size, size, 3), dtype=np.uint8))
    frame = root / "train" / "traj_0" / "0" / "3.png"
    if how == "missing frame":
        frame.unlink()
    if how == "text as frame":
        text_as(frame.parent, frame.name)
    mention = {"wrong resolution": "resolution 16x16", "missing frame": "3.png", "text as frame": "3.png"}[how]
    argv = ["make-data", *TINY, "data.source=bair", f"data.root={root}"]
    assert_clean_error(run_main(main, argv, capsys), mention)
