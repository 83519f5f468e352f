"""Two training steps on tiny built-in scenes through the CLI code path, then evaluation and the other commands."""

import json
from pathlib import Path

import pytest
import torch
from shared_utils.run import RunDir

from npbgpp.cli import main


def run_cli(*argv):
    try:
        return main(list(argv))
    except SystemExit as exit_:
        return exit_.code


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny pipeline run shared by the tests of this module (its data root is its own)."""
    root = tmp_path_factory.mktemp("smoke")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("THESIS_DATA_ROOT", str(root / "data"))
        patch.setenv("TORCH_HOME", str(root / "torch_home"))
        assert run_cli("pipeline", "--config", "tiny", "--output-dir", str(root / "run")) == 0
    return root / "run"


@pytest.fixture
def shared_data(trained_run, monkeypatch):
    monkeypatch.setenv("THESIS_DATA_ROOT", str(trained_run.parent / "data"))


def test_pipeline_writes_metrics_pictures_and_resumes(trained_run, shared_data, capsys):
    run = RunDir(trained_run)
    metrics = run.read_metrics()
    methods = {"npbgpp", "npbgpp_ft", "per_scene_baseline", "mean_colour"}
    assert set(metrics) == methods | {"headline", "provenance"}
    assert set(metrics["npbgpp"]) == {"psnr", "ssim", "lpips"}
    assert set(metrics["per_scene_baseline"]) == {"psnr", "ssim", "lpips"}
    assert set(metrics["mean_colour"]) == {"psnr", "ssim"}
    assert all(metrics[k]["psnr"] > 0 for k in methods)
    assert metrics["headline"]["NPBG++ PSNR dB"] == round(metrics["npbgpp"]["psnr"], 2)
    assert metrics["provenance"]["steps"] == {"train": 2, "ft": 2, "baseline": 2}
    assert metrics["provenance"]["time_limit_reached"] is False
    assert "Table 3" in run.results.read_text()
    pictures = sorted(p.name for p in run.pictures.iterdir())
    grid = "holdout_00_32x32_holdout_frames.png"
    assert {"summary.png", grid, "holdout_00_orbit.mp4", "captions.json"} <= set(pictures)
    captions = json.loads(run.captions.read_text())
    assert "NPBG++ ft" in captions[grid] and "summary.png" in captions
    assert run.report.is_file()
    assert run.resume_checkpoint() is not None
    step = torch.load(trained_run / "model.pt", weights_only=True)["step"]
    assert step == 2
    # A rerun reuses the finished training and only re-evaluates.
    capsys.readouterr()
    assert run_cli("pipeline", "--config", "tiny", "--output-dir", str(trained_run)) == 0
    assert torch.load(trained_run / "model.pt", weights_only=True)["step"] == 2
    assert run_cli("eval", "--run-dir", str(trained_run)) == 0
    assert run_cli("eval", "--run-dir", str(trained_run), "--config", "tiny") == 2
    assert "--config is not accepted" in capsys.readouterr().err


def test_build_render_and_finetune_commands(trained_run, shared_data, tmp_path):
    built = tmp_path / "holdout.pt"
    assert run_cli("build", "--run-dir", str(trained_run), "--scene", "holdout_00", "--out", str(built)) == 0
    assert run_cli("render", "--run-dir", str(trained_run), "--scene-file", str(built), "--orbit", "3",
                   "--out", str(tmp_path / "orbit.gif")) == 0
    assert (tmp_path / "orbit.gif").is_file()
    assert run_cli("render", "--run-dir", str(trained_run), "--scene-file", str(built), "--orbit", "2",
                   "--out", str(tmp_path / "frames")) == 0
    assert len(list((tmp_path / "frames").glob("*.png"))) == 2
    for mode in ("ft", "ft-system"):
        out = tmp_path / mode
        assert run_cli("finetune", "--run-dir", str(trained_run), "--scene", "holdout_00", "--mode", mode,
                       "--output-dir", str(out)) == 0
        result = json.loads((out / "finetune_metrics.json").read_text())
        assert result["mode"] == mode and len(result["timeline"]) >= 2


def test_bad_input_gives_one_line_error(tmp_path, capsys):
    assert run_cli("train", "--config", "tiny", "--output-dir", str(tmp_path / "x"), "trainer.max_step=3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "max_steps" in err[0]
    assert run_cli("render", "--run-dir", str(tmp_path / "missing"), "--scene-file", "nothing.pt", "--out", "x") == 2
    assert capsys.readouterr().err.startswith("error:")


def test_unknown_scene_gives_one_line_error(trained_run, shared_data, capsys):
    assert run_cli("build", "--run-dir", str(trained_run), "--scene", "nope", "--out", "x.pt") == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_training_on_two_cpu_processes(tmp_path):
    """Lightning DDP (gloo on CPU) with two processes, launched through the console script."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "npbgpp.cli", "train", "--config", "tiny", "--output-dir", str(out),
               "trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu",
               "trainer.max_steps=3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 3
    assert Path(out / "checkpoints" / "last.ckpt").is_file()


def test_pipeline_cut_by_the_opt_in_time_limit_says_so_and_exits_3(tmp_path, capsys):
    run = RunDir(tmp_path / "cut")
    code = run_cli("pipeline", "--config", "tiny", "--output-dir", str(run.path), "trainer.max_time_minutes=0.00001",
                   "trainer.max_steps=50", "eval.run_finetune=false", "eval.run_baseline=false")
    assert code == 3
    metrics = run.read_metrics()
    assert metrics["provenance"]["time_limit_reached"] is True and metrics["provenance"]["steps"]["train"] < 50
    assert "time limit" in run.results.read_text() and "time limit" in capsys.readouterr().err
