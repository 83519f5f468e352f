"""kill -9 loses nothing: a tiny pipeline killed right after its first periodic last.ckpt and started again with
the same command continues from that step and ends with the metrics of an uninterrupted run."""

import csv
import json
import os
import pathlib

import numpy as np
from shared_utils.io import load_checkpoint
from shared_utils.run import metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, load_run_files, run_cli


def logged_steps(stage: pathlib.Path) -> list[int]:
    """Steps in the CSV log of the stage's latest logger version."""
    versions = sorted((stage / "logs" / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    with (versions[-1] / "metrics.csv").open() as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_killed_pipeline_resumes_and_matches_an_uninterrupted_run(tmp_path, tiny_reference_run):
    reference_run, reference = tiny_reference_run
    command = [console_script("lvt"), "pipeline", "--output-dir", str(tmp_path / "run"), "--config", "tiny"]
    env = {"THESIS_DATA_ROOT": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    vqvae = tmp_path / "run" / "vqvae"

    status = kill_after_file(command, vqvae / "checkpoints" / "last.ckpt", env=env)
    assert status == -9, "the pipeline ended before its first periodic checkpoint"
    assert not (vqvae / "weights.pt").exists(), "killed too late: the VQ-VAE stage had already finished"
    killed_at = load_checkpoint(vqvae / "checkpoints" / "last.ckpt")["global_step"]
    assert 0 < killed_at < 24

    resumed = run_cli(command, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert min(logged_steps(vqvae)) >= killed_at, "the VQ-VAE stage started again from step 0"

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["provenance"]["steps"] == reference["provenance"]["steps"]
    assert metrics_without_provenance(metrics) == metrics_without_provenance(reference)
    for name in ("vqvae", "transformer", "transformer_no_temporal"):
        ours = load_checkpoint(tmp_path / "run" / name / "weights.pt")["state_dict"]
        theirs = load_checkpoint(reference_run / name / "weights.pt")["state_dict"]
        assert all(np.array_equal(ours[key].numpy(), theirs[key].numpy()) for key in theirs), name

    assert load_run_files(tmp_path / "run")
    assert os.access(tmp_path / "run" / "metrics.json", os.R_OK)
