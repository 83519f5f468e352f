"""The tiny run (``mprcnn pipeline --config tiny``): what it writes, eval and predict on it, the opt-in time limit."""

import json
import shutil

from mobile_parsing_rcnn.cli import main
from shared_utils.io import read_image, write_video
from shared_utils.run import RunDir


def test_the_pipeline_writes_every_result_and_eval_reuses_the_run(tiny_run, tmp_path, capsys):
    metrics = RunDir(tiny_run).read_metrics()
    assert {"box_ap_pct", "dp_ap_gps_pct", "dp_ap_gpsm_pct", "params", "headline", "provenance"} <= set(metrics)
    assert set(metrics["headline"]) == {"GPS AP %", "box AP %", "params M"}
    assert metrics["provenance"]["steps"] == {"train": 6}
    assert metrics["provenance"]["time_limit_reached"] is False
    assert metrics["params"] > 3_000_000
    run = RunDir(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    assert run.results.read_text().count("|") > 20
    assert (run.pictures / "iuv_val.png").is_file() and run.report.is_file()
    assert "iuv_val.png" in json.loads(run.captions.read_text())
    data = list((tiny_run.parent / "data" / "mprcnn").glob("synthetic-*/annotations/densepose_val.json"))
    assert len(data) == 1
    ckpt_time = run.last_checkpoint.stat().st_mtime
    # eval on the finished run: the metrics are rewritten, the checkpoint stays
    run.metrics.unlink()
    assert main(["eval", "--run-dir", str(run.path)]) == 0
    assert run.read_metrics()["params"] == metrics["params"]
    assert run.last_checkpoint.stat().st_mtime == ckpt_time


def test_predict_on_an_image_a_folder_and_a_video(tiny_run, tmp_path, capsys):
    val = sorted((tiny_run.parent / "data" / "mprcnn").glob("synthetic-*/images/val/*.png"))
    main(["predict", "--input", str(val[0]), "--run-dir", str(tiny_run), "--output-dir", str(tmp_path / "p1")])
    assert (tmp_path / "p1" / f"{val[0].stem}_iuv.png").is_file()
    assert (tmp_path / "p1" / f"{val[0].stem}_contours.png").is_file()
    assert isinstance(json.loads((tmp_path / "p1" / "densepose_results.json").read_text()), list)
    main(["predict", "--input", str(val[0].parent), "--run-dir", str(tiny_run), "--output-dir", str(tmp_path / "p2")])
    assert len(list((tmp_path / "p2").glob("*_contours.png"))) == len(val)
    frames = [read_image(p) for p in val] * 2
    write_video(tmp_path / "clip.mp4", [f[:128, :128] for f in frames], fps=5)
    main(["predict", "--input", str(tmp_path / "clip.mp4"), "--run-dir", str(tiny_run), "--output-dir",
          str(tmp_path / "p3")])
    assert (tmp_path / "p3" / "clip_iuv.mp4").is_file()


def test_an_opt_in_time_limit_is_reported_and_the_pipeline_exits_3(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    code = main(["pipeline", "--config", "tiny", "--output-dir", str(run.path), "trainer.max_time_minutes=0.0001"])
    assert code == 3
    metrics = run.read_metrics()
    assert metrics["provenance"]["time_limit_reached"] is True
    assert metrics["provenance"]["steps"]["train"] < 6
    assert "time limit" in run.results.read_text()
    assert "time limit" in capsys.readouterr().err
