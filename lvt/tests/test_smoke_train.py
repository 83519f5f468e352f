"""Both stages for two steps on tiny sprite videos, through the same code path as `lvt pipeline`."""

import json

import pytest
import torch
from lvt.cli import main

TINY = [
    "data.num_frames=4",
    "data.resolution=32",
    "data.synthetic.num_train=8",
    "data.synthetic.num_test=4",
    "data.synthetic.sprite_size=[6,10]",
    "vqvae.hidden_channels=8",
    "vqvae.channels=8",
    "vqvae.res_channels=4",
    "vqvae.num_downsamples=2",
    "vqvae.num_parts=2",
    "vqvae.codebook_size=8",
    "vqvae.batch_size=8",
    "vqvae.trainer.max_steps=2",
    "transformer.subscale=[2,2,1]",
    "transformer.embedding_dim=8",
    "transformer.width=16",
    "transformer.attention_dim=8",
    "transformer.ffn_dim=16",
    "transformer.num_heads=2",
    "transformer.encoder_layers=1",
    "transformer.decoder_layers=1",
    "transformer.encoder_blocks=[[2,2,8]]",
    "transformer.decoder_blocks=[[1,4,8]]",
    "transformer.batch_size=4",
    "transformer.trainer.max_steps=2",
    "sample.num_videos=2",
    "sample.num_priming_frames=2",
]


def test_pipeline_trains_both_stages_and_writes_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["pipeline", "--output-dir", "run", *TINY])
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("bits_per_dim", "bits_per_dim_uniform", "bits_per_dim_no_temporal", "recon_psnr", "fvd"):
        assert key in metrics
    assert metrics["bits_per_dim_uniform"] == 3.0
    assert metrics["fvd"] is None and "frames" in metrics["fvd_reason"]
    assert metrics["bits_per_dim"] > 0 and metrics["bits_per_dim_no_temporal"] > 0
    for name in ("samples_grid.png", "ground_truth_grid.png", "samples.gif", "samples.mp4", "results.md",
                 "vqvae/vqvae.pt", "latents/train.pt", "transformer/transformer.pt",
                 "transformer_no_temporal/transformer.pt", "vqvae/checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    assert "Thesis Table 1a" in (run / "results.md").read_text()
    assert (tmp_path / "data" / "lvt").is_dir() or any((tmp_path / "data").rglob("sprites-*.npy"))

    # a second run reuses the finished stages; eval and sample work from the run folder alone
    stamp = (run / "transformer" / "transformer.pt").stat().st_mtime_ns
    main(["pipeline", "--output-dir", "run", *TINY])
    assert (run / "transformer" / "transformer.pt").stat().st_mtime_ns == stamp
    main(["eval", "--run-dir", "run"])
    main(["sample", "--run-dir", "run", "--naive"])
    assert (run / "samples" / "samples_grid.png").is_file()

    # weights trained on the codes of another codebook are refused with one line
    payload = torch.load(run / "transformer" / "transformer.pt")
    payload["codebook_hash"] = "0123456789abcdef"
    torch.save(payload, run / "transformer" / "transformer.pt")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", "--run-dir", "run"])
    assert "trained on codes of codebook 0123456789abcdef" in capsys.readouterr().err


def test_bad_input_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", "--output-dir", "run", "vqvae.codebook_sise=4"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "codebook_size" in err[0]
    with pytest.raises(SystemExit):
        main(["eval", "--run-dir", "missing", "--config", "cpu"])
    assert "not found" in capsys.readouterr().err
