"""kill -9 during training loses nothing: the rerun resumes from last.ckpt and ends with the uninterrupted metrics."""

import csv

from shared_utils.io import load_checkpoint
from shared_utils.run import RunDir, metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, load_run_files, run_cli

ENV = {"OMP_NUM_THREADS": "1"}


def test_pipeline_killed_after_the_first_checkpoint_resumes_to_the_same_metrics(tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    argv = [console_script("multineus"), "pipeline", "--config", "tiny", "--output-dir", str(run),
            f"data.root={tiny_dataset}"]
    meta = RunDir(run / "meta")
    assert kill_after_file(argv, meta.last_checkpoint, env=ENV) == -9
    killed_at = load_checkpoint(meta.last_checkpoint)["global_step"]
    assert 1 <= killed_at < 4 and not (meta / "model.pt").exists()

    result = run_cli(argv, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_checkpoint(meta.last_checkpoint)["global_step"] == 4
    # The resumed run logged only the steps after the checkpoint: training continued instead of restarting.
    versions = sorted((meta.logs / "csv").iterdir())
    assert len(versions) == 2
    resumed_steps = {int(row["step"]) for row in csv.DictReader((versions[-1] / "metrics.csv").open())}
    assert min(resumed_steps) >= killed_at
    assert metrics_without_provenance(RunDir(run).read_metrics()) == metrics_without_provenance(
        RunDir(tiny_run).read_metrics())
    assert len(load_run_files(run)) > 20
