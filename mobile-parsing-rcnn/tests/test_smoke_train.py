"""Two training steps on a tiny built-in data set through the same code path as ``mprcnn pipeline``."""

import json

from mobile_parsing_rcnn.cli import main


def test_pipeline_trains_two_steps_evaluates_and_resumes(tmp_path, tiny_overrides, capsys):
    out = tmp_path / "run"
    main(["pipeline", "--output-dir", str(out), *tiny_overrides])
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"box_ap", "dp_ap_gps", "dp_ap_gpsm", "params"}
    assert metrics["params"] > 3_000_000
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert (out / "results.md").read_text().count("|") > 20
    assert (out / "pictures" / "iuv_val.png").is_file()
    assert (tmp_path / "data" / "mprcnn" / "annotations" / "densepose_val.json").is_file()
    ckpt_time = (out / "checkpoints" / "last.ckpt").stat().st_mtime
    # rerun: training is finished (max_steps reached), data are reused, evaluation rewrites the metrics
    main(["eval", "--run-dir", str(out)])
    assert json.loads((out / "metrics.json").read_text())["params"] == metrics["params"]
    assert (out / "checkpoints" / "last.ckpt").stat().st_mtime == ckpt_time

    # predict on an image, a folder and a video with the trained checkpoint
    from shared_utils.io import read_image, write_video

    val = sorted((tmp_path / "data" / "mprcnn" / "images" / "val").glob("*.png"))
    ckpt = str(out / "checkpoints" / "last.ckpt")
    main(["predict", str(val[0]), "--checkpoint", ckpt, "--output-dir", str(tmp_path / "p1"), *tiny_overrides])
    assert (tmp_path / "p1" / f"{val[0].stem}_iuv.png").is_file()
    assert (tmp_path / "p1" / f"{val[0].stem}_contours.png").is_file()
    assert isinstance(json.loads((tmp_path / "p1" / "densepose_results.json").read_text()), list)
    main(["predict", str(val[0].parent), "--checkpoint", ckpt, "--output-dir", str(tmp_path / "p2"), *tiny_overrides])
    assert len(list((tmp_path / "p2").glob("*_contours.png"))) == len(val)
    frames = [read_image(p) for p in val] * 2
    write_video(tmp_path / "clip.mp4", [f[:128, :128] for f in frames], fps=5)
    main(["predict", str(tmp_path / "clip.mp4"), "--checkpoint", ckpt, "--output-dir", str(tmp_path / "p3"),
          *tiny_overrides])
    assert (tmp_path / "p3" / "clip_iuv.mp4").is_file()
