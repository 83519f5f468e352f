import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_meta_learning_runs_under_ddp_on_two_cpu_processes(tiny_dataset, tmp_path):
    """Lightning DDP (gloo) with devices=2: each rank draws its own scenes; rank 0 writes the model."""
    script = shutil.which("multineus") or str(Path(sys.executable).with_name("multineus"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [script, "train", "--config", "ddp", "--output-dir", str(tmp_path), f"data.root={tiny_dataset}",
         "meta.trainer.max_steps=4"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "meta" / "model.pt").exists()
    assert "distributed_backend=gloo" in result.stderr + result.stdout
