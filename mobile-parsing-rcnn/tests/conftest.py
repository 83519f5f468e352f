"""Tests run on CPU, single-threaded, seeded, with data and outputs in temporary folders."""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["CI"] = "true"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from shared_utils.testing import console_script, run_cli  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_isolate(tmp_path, monkeypatch):
    np.random.seed(0)
    torch.manual_seed(0)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """An uninterrupted ``mprcnn pipeline --config tiny`` run (as a user runs it), shared by the determinism, resume
    and bad-input tests: its run folder."""
    base = tmp_path_factory.mktemp("tiny")
    result = run_cli([console_script("mprcnn"), "pipeline", "--config", "tiny", "--output-dir", str(base / "run")],
                     env={"THESIS_DATA_ROOT": str(base / "data")}, cwd=base)
    assert result.returncode == 0, result.stderr[-3000:]
    return base / "run"
