"""Fault tolerance: `def-sharp pipeline` killed with SIGKILL after its first periodic last.ckpt, then run again with
the same command, continues from that step and ends with the metrics of an uninterrupted run; every file it left
loads."""

from __future__ import annotations

import csv
from pathlib import Path

from shared_utils.io import load_checkpoint
from shared_utils.run import RunDir, metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, load_run_files, run_cli


def _train_loss_steps(metrics_csv: Path) -> list[int]:
    with open(metrics_csv, newline="") as handle:
        return sorted(int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss"))


def test_kill_9_after_first_checkpoint_then_rerun_resumes(tiny_reference, tmp_path):
    reference, data_root = tiny_reference
    run = RunDir(tmp_path / "run")
    env = {"THESIS_DATA_ROOT": str(data_root), "OMP_NUM_THREADS": "1"}
    argv = [console_script("def-sharp"), "pipeline", "--config", "tiny", "--output-dir", str(run.path)]

    assert kill_after_file(argv, run.last_checkpoint, env=env, cwd=tmp_path) == -9
    killed_at = int(load_checkpoint(run.last_checkpoint)["global_step"])
    assert 0 < killed_at < 8, f"the kill landed after training ended (step {killed_at})"

    result = run_cli(argv, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # The rerun trained the remaining steps only (its CSV log is the second version in the run folder).
    logs = sorted((run.logs / "csv").glob("version_*"))
    assert _train_loss_steps(logs[-1] / "metrics.csv") == list(range(killed_at, 8))
    metrics = run.read_metrics()
    assert metrics["provenance"]["steps"] == {"train": 8}
    assert metrics_without_provenance(metrics) == metrics_without_provenance(RunDir(reference).read_metrics())
    read = {path.relative_to(run.path).as_posix() for path in load_run_files(run.path)}
    assert {"config.yaml", "metrics.json", "results.md", "report.html", "checkpoints/last.ckpt"} <= read
