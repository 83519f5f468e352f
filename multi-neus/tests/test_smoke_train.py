import json

import numpy as np
import torch
from multi_neus.cli import main
from multi_neus.config import load
from multi_neus.data.scene import load_split
from multi_neus.train import meta_learn
from shared_utils.cameras import project
from shared_utils.io import save_json, write_image
from shared_utils.run import RunDir


def test_pipeline_writes_metrics_results_and_pictures(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert {"multineus", "scratch", "headline", "provenance", "input_views"} <= set(metrics)
    assert metrics["input_views"] == {"F": 0, "L": 3, "R": 5}
    for method in ("multineus", "scratch"):
        for distance in ("chamfer_face_mm", "chamfer_head_mm"):
            per_view = metrics[method][distance]
            assert set(per_view) == {"F", "L", "R", "mean"}
            assert all(np.isfinite(v) and v > 0 for v in per_view.values())
            assert abs(per_view["mean"] - np.mean([per_view[k] for k in "FLR"])) < 1e-3
    assert metrics["headline"]["face Chamfer mm"] == metrics["multineus"]["chamfer_face_mm"]["mean"]
    assert metrics["provenance"]["steps"] == {"meta": 4, "fit_stage1": 6, "fit_stage2": 6, "scratch": 12}
    assert metrics["provenance"]["time_limit_reached"] is False
    results = (tiny_run / "results.md").read_text()
    assert "Table 7" in results and "face F" in results and "1.84" in results
    run = RunDir(tiny_run / "meta")
    assert run.last_checkpoint.exists()
    pictures = {p.name for p in RunDir(tiny_run).pictures.iterdir()}
    assert {"head_002_novel_views.png", "head_002_turntable.mp4", "summary.png", "captions.json"} <= pictures
    assert {f"head_002_{v}_{m}.ply" for v in "FLR" for m in ("multineus", "scratch")} <= pictures
    assert "head_002_ground_truth.ply" in pictures
    captions = json.loads(RunDir(tiny_run).captions.read_text())
    assert set(pictures) - {"captions.json"} <= set(captions)
    assert RunDir(tiny_run).report.exists()


def test_eval_mesh_and_render_commands(tiny_run, tmp_path):
    RunDir(tiny_run).metrics.unlink()
    assert main(["eval", "--run-dir", str(tiny_run)]) == 0
    assert RunDir(tiny_run).metrics.exists()
    model = tiny_run / "fit" / "head_002" / "F" / "multineus" / "stage2" / "model.pt"
    assert main(["mesh", "--model", str(model), "--output", str(tmp_path / "m.ply"), "--resolution", "24"]) == 0
    assert (tmp_path / "m.ply").stat().st_size > 0
    assert main(["render", "--model", str(model), "--output", str(tmp_path / "t.gif"), "--frames", "2",
                 "--size", "16"]) == 0
    assert (tmp_path / "t.gif").exists()


def test_fit_a_photo_with_unknown_camera(tiny_run, tiny_dataset, tmp_path):
    scene = load_split(tiny_dataset, "test")[0]
    write_image(tmp_path / "photo.png", scene.images[0])
    write_image(tmp_path / "mask.png", scene.masks[0])
    uv, _ = project(torch.from_numpy(scene.landmarks), torch.from_numpy(scene.intrinsics[0]),
                    torch.from_numpy(np.linalg.inv(scene.c2w[0])))
    save_json({"points": uv.numpy()}, tmp_path / "landmarks.json")
    args = ["fit", "--run-dir", str(tiny_run), "--photo", str(tmp_path / "photo.png"),
            "--mask", str(tmp_path / "mask.png"), "--landmarks", str(tmp_path / "landmarks.json"),
            "--output-dir", str(tmp_path / "fit")]
    assert main(args) == 0
    payload = torch.load(tmp_path / "fit" / "multineus" / "stage2" / "model.pt", weights_only=False)
    assert payload["pose_correction"].shape == (1, 6) and payload["log_focal_correction"].shape == (1, 2)
    assert (tmp_path / "fit" / "multineus_mesh.ply").exists()


def test_meta_learning_resumes_from_last_checkpoint(tiny_dataset, tmp_path):
    scenes = load_split(tiny_dataset, "train")
    cfg = load("tiny", ["meta.batches_per_epoch=2", "meta.trainer.max_steps=3"])
    meta_learn(cfg, scenes, tmp_path)
    first = torch.load(RunDir(tmp_path).last_checkpoint, weights_only=False)
    assert first["global_step"] == 3
    (tmp_path / "model.pt").unlink()  # pretend the run was interrupted before finishing
    cfg.meta.trainer.max_steps = 5
    meta_learn(cfg, scenes, tmp_path)
    second = torch.load(RunDir(tmp_path).last_checkpoint, weights_only=False)
    assert second["global_step"] == 5 and (tmp_path / "model.pt").exists()


def test_pipeline_cut_by_an_opt_in_time_limit_says_so_and_exits_3(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "limited"
    code = main(["pipeline", "--config", "tiny", "--output-dir", str(run), f"data.root={tiny_dataset}",
                 "meta.trainer.max_time_minutes=0.00001"])
    assert code == 3
    assert "time limit" in capsys.readouterr().err
    metrics = RunDir(run).read_metrics()
    assert metrics["provenance"]["time_limit_reached"] is True
    assert metrics["provenance"]["steps"]["meta"] < 4
    assert "time limit stopped training early" in RunDir(run).results.read_text()
