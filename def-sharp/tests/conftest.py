"""Tests run on CPU, single-threaded, seeded, with data and outputs in temporary folders."""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_isolate(tmp_path, monkeypatch):
    np.random.seed(0)
    torch.manual_seed(0)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
