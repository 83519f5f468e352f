"""Every stage of the tiny config through the same code path as `lvt pipeline` (in process, seconds)."""

import json

import torch
from lvt.cli import main
from shared_utils.testing import assert_clean_error, run_main

STAGE_FILES = ("vqvae/weights.pt", "latents/train.pt", "latents/test.pt", "transformer/weights.pt",
               "transformer_no_temporal/weights.pt", "vqvae/checkpoints/last.ckpt",
               "transformer/checkpoints/last.ckpt")
PICTURES = ("summary.png", "samples.png", "reconstructions.png", "samples.gif", "samples.mp4")


def test_pipeline_trains_both_stages_and_writes_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "--output-dir", "run", "--config", "tiny"]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bits_per_dim_uniform"] == 3.0
    assert metrics["fvd"] is None and "frames" in metrics["fvd_reason"]
    assert metrics["bits_per_dim"] > 0 and metrics["bits_per_dim_no_temporal"] > 0
    assert set(metrics["headline"]) == {"LVT bits/dim", "per-frame bits/dim", "reconstruction PSNR dB"}
    assert metrics["provenance"]["steps"] == {"vqvae": 24, "transformer": 8, "transformer_no_temporal": 4}
    assert metrics["provenance"]["time_limit_reached"] is False
    for name in STAGE_FILES + ("config.yaml", "results.md", "report.html"):
        assert (run / name).is_file(), name
    captions = json.loads((run / "pictures" / "captions.json").read_text())
    for name in PICTURES:
        assert (run / "pictures" / name).is_file(), name
        assert captions[name], name
    assert "Thesis Table 1a" in (run / "results.md").read_text()
    assert any((tmp_path / "data" / "lvt").glob("sprites-*.npy"))

    # a second run reuses the finished stages; eval and sample work from the run folder alone
    stamp = (run / "transformer" / "weights.pt").stat().st_mtime_ns
    assert main(["pipeline", "--output-dir", "run", "--config", "tiny"]) == 0
    assert (run / "transformer" / "weights.pt").stat().st_mtime_ns == stamp
    assert main(["eval", "--run-dir", "run"]) == 0
    assert main(["sample", "--run-dir", "run", "--naive"]) == 0
    assert (run / "pictures" / "sampled" / "samples.png").is_file()

    # weights trained on the codes of another codebook are refused with one line
    payload = torch.load(run / "transformer" / "weights.pt")
    payload["codebook_hash"] = "0123456789abcdef"
    torch.save(payload, run / "transformer" / "weights.pt")
    capsys.readouterr()
    refused = run_main(main, ["eval", "--run-dir", "run"], capsys)
    assert_clean_error(refused, "trained on codes of codebook 0123456789abcdef")


def test_time_limit_is_flagged_and_pipeline_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # a zero-minute opt-in limit stops each stage at once
    code = main(["pipeline", "--output-dir", "run", "--config", "tiny", "vqvae.trainer.max_time_minutes=0",
                 "transformer.trainer.max_time_minutes=0"])
    assert code == 3
    assert "time limit" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["provenance"]["time_limit_reached"] is True
    assert metrics["provenance"]["steps"]["vqvae"] < 24
