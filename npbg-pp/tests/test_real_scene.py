"""The real-scene block of the pipeline on the real lego sample: cloud carved from the input views, zero-shot NPBG++
at two sizes, ft and the baseline at one, hold-out frames excluded from carving and fitting."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_utils.io import read_point_cloud
from shared_utils.run import RunDir

from npbgpp.config import load
from npbgpp.evaluate import ImageMetrics, results_markdown, write_pictures
from npbgpp.models.npbgpp import NPBGPP
from npbgpp.real_scene import evaluate_real_scene, holdout_frames

LEGO = Path(__file__).resolve().parents[2] / "../shared/data/nerf_synthetic/lego"


def test_every_kth_frame_is_held_out_without_a_test_split():
    import torch

    flags = holdout_frames(20, False, torch.zeros(20, dtype=torch.bool), 8)
    assert torch.nonzero(flags).flatten().tolist() == [0, 8, 16]
    test_split = torch.arange(20) >= 15
    assert torch.equal(holdout_frames(20, True, test_split, 8), test_split)


def test_absent_real_scene_gives_no_block(tmp_path):
    cfg = load("tiny", [f"eval.real_scene={tmp_path / 'absent'}"])
    assert evaluate_real_scene(NPBGPP(cfg).eval(), cfg, RunDir(tmp_path), None, None) is None


@pytest.mark.skipif(not LEGO.is_dir(), reason=f"the real lego sample is absent ({LEGO})")
def test_lego_block(tmp_path):
    cfg = load("tiny", [f"eval.real_scene={LEGO}", "eval.real_sizes=[24,40]", "eval.real_fit_sizes=[24]",
                        "points.resolution=48", "points.coarse_resolution=24"])
    run = RunDir(tmp_path / "run").create()
    metrics = ImageMetrics(cfg.eval.crop_border, cfg.eval.lpips_net)
    block = evaluate_real_scene(NPBGPP(cfg).eval(), cfg, run, metrics, write_pictures)
    assert block["scene"] == "lego" and block["holdout_frames"] == 13
    assert set(block["sizes"]) == {"24x24", "40x40"}
    assert set(block["sizes"]["24x24"]) == {"npbgpp", "npbgpp_ft", "per_scene_baseline"}
    assert set(block["sizes"]["40x40"]) == {"npbgpp"}
    assert all(0 < entry["psnr"] < 60 for size in block["sizes"].values() for entry in size.values())
    assert len(read_point_cloud(run.pictures / "lego_cloud" / "points.ply").points) > 1000
    assert (run.pictures / "lego_24x24_holdout_frames.png").is_file()
    details = {"holdout_scenes": ["x"], "lpips_unavailable_reason": "absent", "build_seconds": [1.0],
               "first_render_seconds": [0.1], "fit_seconds": {}, "baseline_seconds_to_npbgpp_psnr": [],
               "timelines": {}}
    summary = {"npbgpp": {"psnr": 20.0, "ssim": 0.5, "lpips": None}, "mean_colour": {"psnr": 10.0, "ssim": 0.1},
               "real_scene": block}
    text = results_markdown(summary, details, cfg)
    assert "Real scene `lego`" in text and "| 24x24 | 40x40 |" in text.replace("  ", " ")
