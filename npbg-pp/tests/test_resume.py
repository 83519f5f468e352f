"""kill -9 during training, rerun the same command: training resumes from last.ckpt (the step count continues) and
ends with the metrics of an uninterrupted run of the same seed; every file the run folder holds loads."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from shared_utils.io import load_checkpoint
from shared_utils.run import RunDir, metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, load_run_files

from npbgpp.cli import main

# Two epochs of four steps, last.ckpt every four: the kill lands after the first periodic checkpoint (step 4).
OVERRIDES = ["trainer.max_steps=8", "trainer.checkpoint_every_n_steps=4", "trainer.log_every_n_steps=1",
             "eval.run_baseline=false"]


def pipeline_argv(output_dir: Path) -> list[str]:
    return ["pipeline", "--config", "tiny", "--output-dir", str(output_dir), *OVERRIDES]


def logged_steps(run: RunDir) -> list[list[int]]:
    """Training steps logged by each Lightning session (one CSV version per start)."""
    sessions = []
    for metrics in sorted(run.logs.glob("csv/version_*/metrics.csv")):
        rows = csv.DictReader(metrics.open())
        sessions.append(sorted({int(row["step"]) for row in rows if row.get("train/loss")}))
    return sessions


def test_kill_9_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path, monkeypatch, caplog):
    # The killed process runs one thread like this one (conftest): equal numbers need equal reduction orders.
    data = tmp_path / "data"
    monkeypatch.setenv("THESIS_DATA_ROOT", str(data))
    interrupted = RunDir(tmp_path / "interrupted")
    status = kill_after_file([console_script("npbgpp"), *pipeline_argv(interrupted.path)], interrupted.last_checkpoint,
                             env={"THESIS_DATA_ROOT": str(data), "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert status == -9, f"the pipeline ended (status {status}) before writing its first last.ckpt"
    assert load_checkpoint(interrupted.last_checkpoint)["global_step"] == 4
    assert not interrupted.metrics.exists()

    with caplog.at_level(logging.INFO):
        assert main(pipeline_argv(interrupted.path)) == 0
    assert "resuming from" in caplog.text
    sessions = logged_steps(interrupted)
    assert len(sessions) == 2 and sessions[1][0] >= 4 and sessions[1][-1] == 8 - 1, sessions

    uninterrupted = RunDir(tmp_path / "uninterrupted")
    assert main(pipeline_argv(uninterrupted.path)) == 0
    assert metrics_without_provenance(interrupted.read_metrics()) == metrics_without_provenance(
        uninterrupted.read_metrics())
    assert interrupted.read_metrics()["provenance"]["steps"]["train"] == 8
    assert len(load_run_files(interrupted.path)) > 10
