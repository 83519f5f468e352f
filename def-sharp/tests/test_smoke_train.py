"""Two training steps on a tiny generated data set, through the same code path as `def-sharp pipeline`."""

import json

import pytest
from def_sharp.cli import main

TINY = [
    "data.shapes.n_train=2", "data.shapes.n_val=1", "data.shapes.n_test=1", "data.shapes.smooth_fraction=0.0",
    "data.scan.patches_per_shape=4", "data.generation_workers=1",
    "model.base_width=8", "model.decoder_widths=[16,16,8,8]",
    "optim.batch_size=4", "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.enable_progress_bar=false",
    "baseline.calibration_patches=4", "eval.picture_patches=2", "eval.whole_model_shapes=1", "predict.n_views=3",
]


def test_pipeline_two_steps_writes_run(tmp_path):
    run = tmp_path / "run"
    assert main(["pipeline", "--output-dir", str(run), *TINY]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    for method in ("def", "baseline"):
        assert set(metrics[method]) == {"rmse", "rmse_q95", "recall", "fpr"}
        assert 0.0 <= metrics[method]["rmse"] <= 1.0
    assert metrics["whole_model"]["n_points"] > 0
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert (run / "results.md").read_text().count("|") > 20
    assert list((run / "pictures").glob("patches_*.png"))
    assert list((run / "pictures").glob("whole_model_*_fused.ply"))


def test_rerun_resumes_and_eval_rewrites_metrics(tmp_path):
    run = tmp_path / "run"
    args = [*TINY, "eval.whole_model_shapes=0"]
    assert main(["pipeline", "--output-dir", str(run), *args]) == 0
    first = (run / "checkpoints" / "last.ckpt").stat().st_mtime
    assert main(["train", "--output-dir", str(run), *args]) == 0  # max_steps reached: nothing retrained
    assert (run / "checkpoints" / "last.ckpt").stat().st_mtime == first
    (run / "metrics.json").unlink()
    assert main(["eval", "--run-dir", str(run), "eval.whole_model_shapes=0"]) == 0
    assert (run / "metrics.json").exists()


def test_cli_reports_bad_override_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--output-dir", str(tmp_path / "run"), "trainer.max_step=2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "max_steps" in err[0]
