"""Lightning DDP on CPU (gloo, two processes) through the CLI's training path.

Run in a subprocess: Lightning's DDP launcher starts the other rank by re-running the current command line, which must
be the ``mprcnn`` entry point rather than pytest.
"""

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path, tiny_overrides):
    out = tmp_path / "ddp"
    # the last backbone block after its expansion conv feeds no output, hence find_unused_parameters
    cmd = [sys.executable, "-m", "mobile_parsing_rcnn.cli", "train", "--output-dir", str(out), *tiny_overrides,
           "trainer.devices=2", "trainer.strategy=ddp_find_unused_parameters_true", "trainer.accelerator=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in result.stderr + result.stdout
    assert (out / "checkpoints" / "last.ckpt").is_file()
