"""`def-sharp pipeline --config tiny` end to end: the run folder it writes, rerunning it, re-evaluating it."""

import shutil

import numpy as np
from def_sharp.cli import main
from def_sharp.config import load
from def_sharp.evaluate import evaluate
from shared_utils.io import load_checkpoint, load_json
from shared_utils.run import RunDir, metrics_without_provenance


def test_pipeline_writes_the_run_folder(tiny_reference):
    run = RunDir(tiny_reference[0])
    metrics = run.read_metrics()
    for method in ("def", "baseline"):
        assert set(metrics[method]) == {"rmse", "rmse_q95", "recall", "fpr"}
        assert 0.0 <= metrics[method]["rmse"] <= load("tiny").data.scan.truncation
    assert metrics["headline"] == {"recall %": round(100 * metrics["def"]["recall"], 2),
                                   "FPR %": round(100 * metrics["def"]["fpr"], 2),
                                   "mRMSE ×1e-3": round(1e3 * metrics["def"]["rmse"], 2)}
    assert metrics["provenance"]["steps"] == {"train": 8} and not metrics["provenance"]["time_limit_reached"]
    assert run.results.read_text().count("|") > 20 and run.report.is_file()
    pictures = {p.name for p in run.pictures.glob("*.png")}
    assert {"patches.png", "summary.png"} <= pictures
    assert pictures <= set(load_json(run.captions))  # every picture has a caption


def test_rerun_trains_nothing_and_eval_rewrites_the_same_metrics(tiny_reference, tmp_path, monkeypatch):
    reference, data_root = tiny_reference
    monkeypatch.setenv("THESIS_DATA_ROOT", str(data_root))
    run = RunDir(shutil.copytree(reference, tmp_path / "run"))
    assert main(["train", "--output-dir", str(run.path), "--config", "tiny"]) == 0
    assert load_checkpoint(run.last_checkpoint)["global_step"] == 8
    rerun_log = sorted((run.logs / "csv").glob("version_*"))[-1] / "metrics.csv"
    assert not rerun_log.exists() or "train/loss" not in rerun_log.read_text()
    run.metrics.unlink()
    assert main(["eval", "--run-dir", str(run.path)]) == 0
    assert metrics_without_provenance(run.read_metrics()) == metrics_without_provenance(
        RunDir(reference).read_metrics())


def test_whole_model_evaluation(tiny_reference, tmp_path, monkeypatch):
    reference, data_root = tiny_reference
    monkeypatch.setenv("THESIS_DATA_ROOT", str(data_root))
    run = RunDir(shutil.copytree(reference, tmp_path / "run"))
    cfg = run.load_config(load, ["eval.whole_model_shapes=1", "predict.n_views=3", "eval.extra_meshes=[]",
                                 "eval.whole_model_points=5000"])
    whole = evaluate(cfg, run.path)["whole_model"]
    assert whole["n_points"] > 0 and len(whole["shapes"]) == 4  # one instance of every held-out family
    for name in ("DEF single view", "DEF min", "PCA", "normal discontinuity"):
        assert np.isfinite(whole["pooled"][name]["rmse"])
    assert "held-out shape families" in run.results.read_text()
    assert {p.name for p in run.pictures.glob("*.png")} <= set(load_json(run.captions))


def test_opt_in_time_limit_is_reported_and_pipeline_exits_3(tiny_reference, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tiny_reference[1]))
    run = RunDir(tmp_path / "run")
    argv = ["pipeline", "--config", "tiny", "--output-dir", str(run.path), "trainer.max_time_minutes=0.00001"]
    assert main(argv) == 3
    provenance = run.read_metrics()["provenance"]
    assert provenance["time_limit_reached"] and 0 < provenance["steps"]["train"] < 8
    assert load_checkpoint(run.last_checkpoint)["global_step"] == provenance["steps"]["train"]
    assert "time limit" in run.results.read_text() and "time limit" in capsys.readouterr().err
