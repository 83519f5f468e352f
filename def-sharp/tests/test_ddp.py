"""Training under Lightning DDP with two CPU processes (gloo), through the CLI code path."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_two_process_ddp_training(tmp_path):
    # A fresh interpreter: Lightning's DDP launcher re-executes the command line for rank 1.
    run = tmp_path / "run"
    overrides = ["trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu"]
    command = [sys.executable, "-m", "def_sharp.cli", "pipeline", "--config", "tiny", "--output-dir", str(run),
               *overrides]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert (run / "metrics.json").exists()
