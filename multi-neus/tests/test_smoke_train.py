import json

import numpy as np
import pytest
import torch
from multi_neus.cli import main
from multi_neus.data.scene import load_split
from shared_utils.cameras import project
from shared_utils.io import save_json, write_image


@pytest.fixture(scope="module")
def run_dir(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(out), f"data.root={tiny_dataset}"]) == 0
    return out


def test_pipeline_writes_metrics_results_and_pictures(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"multineus", "scratch", "views"} and metrics["views"] == 1
    for method in ("multineus", "scratch"):
        assert set(metrics[method]) == {"chamfer_face_mm", "chamfer_head_mm"}
        assert all(np.isfinite(v) and v > 0 for v in metrics[method].values())
    assert "Table 7" in (run_dir / "results.md").read_text()
    assert (run_dir / "meta" / "checkpoints" / "last.ckpt").exists()
    pictures = {p.name for p in (run_dir / "pictures").iterdir()}
    assert {"head_002_input_view.png", "head_002_novel_views.png", "head_002_turntable.mp4"} <= pictures
    assert (run_dir / "meshes" / "head_002_multineus.ply").exists()


def test_eval_mesh_and_render_commands(run_dir, tmp_path):
    (run_dir / "metrics.json").unlink()
    assert main(["eval", "--run-dir", str(run_dir)]) == 0
    assert (run_dir / "metrics.json").exists()
    model = run_dir / "fit" / "head_002" / "multineus" / "stage2" / "model.pt"
    assert main(["mesh", "--model", str(model), "--output", str(tmp_path / "m.ply"), "--resolution", "24"]) == 0
    assert (tmp_path / "m.ply").stat().st_size > 0
    assert main(["render", "--model", str(model), "--output", str(tmp_path / "t.gif"), "--frames", "2",
                 "--size", "16"]) == 0
    assert (tmp_path / "t.gif").exists()


def test_fit_a_photo_with_unknown_camera(run_dir, tiny_dataset, tmp_path):
    scene = load_split(tiny_dataset, "test")[0]
    write_image(tmp_path / "photo.png", scene.images[0])
    write_image(tmp_path / "mask.png", scene.masks[0])
    uv, _ = project(torch.from_numpy(scene.landmarks), torch.from_numpy(scene.intrinsics[0]),
                    torch.from_numpy(np.linalg.inv(scene.c2w[0])))
    save_json({"points": uv.numpy()}, tmp_path / "landmarks.json")
    args = ["fit", "--config", "tiny", "--meta-model", str(run_dir / "meta" / "model.pt"),
            "--photo", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"),
            "--landmarks", str(tmp_path / "landmarks.json"), "--output-dir", str(tmp_path / "fit")]
    assert main(args) == 0
    payload = torch.load(tmp_path / "fit" / "multineus" / "stage2" / "model.pt", weights_only=False)
    assert payload["pose_correction"].shape == (1, 6)
    assert (tmp_path / "fit" / "multineus_mesh.ply").exists()


def test_bad_input_prints_one_error_line(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["pipeline", "--config", "tiny", "--output-dir", str(tmp_path), "meta.trainer.max_step=1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "max_steps" in err[0]
    write_image(tmp_path / "photo.png", np.zeros((20, 20, 3), np.float32))
    write_image(tmp_path / "mask.png", np.zeros((10, 10), np.float32))
    with pytest.raises(SystemExit) as info:
        main(["fit", "--meta-model", str(run_dir / "meta" / "model.pt"), "--photo", str(tmp_path / "photo.png"),
              "--mask", str(tmp_path / "mask.png"), "--output-dir", str(tmp_path / "fit")])
    assert info.value.code == 2 and "does not match" in capsys.readouterr().err


def test_meta_learning_resumes_from_last_checkpoint(tiny_dataset, tmp_path):
    from multi_neus.config import load
    from multi_neus.train import meta_learn

    scenes = load_split(tiny_dataset, "train")
    cfg = load("tiny", ["meta.batches_per_epoch=2", "meta.trainer.max_steps=3"])
    meta_learn(cfg, scenes, tmp_path)
    first = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert first["global_step"] == 3
    (tmp_path / "model.pt").unlink()  # pretend the run was interrupted before finishing
    cfg.meta.trainer.max_steps = 5
    meta_learn(cfg, scenes, tmp_path)
    second = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert second["global_step"] == 5 and (tmp_path / "model.pt").exists()
