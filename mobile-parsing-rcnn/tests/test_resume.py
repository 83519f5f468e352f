"""kill -9 loses nothing: a tiny pipeline killed after its first periodic last.ckpt and run again continues from that
step and ends with the numbers of an uninterrupted run; every file it leaves in the run folder can be read."""

import csv

from shared_utils.io import load_checkpoint
from shared_utils.run import RunDir, metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, load_run_files, run_cli


def logged_steps(csv_path) -> list[int]:
    with open(csv_path, newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("step")]


def test_a_run_killed_after_its_first_checkpoint_resumes_to_the_same_result(tiny_run, tmp_path):
    run = RunDir(tmp_path / "run")
    argv = [console_script("mprcnn"), "pipeline", "--config", "tiny", "--output-dir", str(run.path)]
    env = {"THESIS_DATA_ROOT": str(tiny_run.parent / "data")}
    assert kill_after_file(argv, run.last_checkpoint, env=env, cwd=tmp_path) == -9
    killed_at = load_checkpoint(run.last_checkpoint)["global_step"]
    assert 0 < killed_at < 6
    assert not run.metrics.exists()

    result = run_cli(argv, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed_log = sorted((run.logs / "csv").glob("version_*"))[-1] / "metrics.csv"
    steps = logged_steps(resumed_log)
    assert min(steps) >= killed_at, f"the rerun restarted at step {min(steps)}, not at {killed_at}"
    assert max(steps) == 5 and run.read_metrics()["provenance"]["steps"] == {"train": 6}
    assert metrics_without_provenance(run.read_metrics()) == metrics_without_provenance(RunDir(tiny_run).read_metrics())
    assert len(load_run_files(run.path)) >= 8
