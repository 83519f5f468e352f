"""Tests run on CPU, single-threaded, seeded, with data and outputs in temporary folders."""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TINY_OVERRIDES = [
    "num_threads=1",
    "max_train_minutes=null",
    "synthetic.num_train=4",
    "synthetic.num_val=2",
    "synthetic.points_per_person=40",
    "data.batch_size=2",
    "data.min_size_train=[128]",
    "data.min_size_test=128",
    "trainer.max_steps=2",
    "trainer.log_every_n_steps=1",
    "eval.num_pictures=1",
]


@pytest.fixture(autouse=True)
def _seed_and_isolate(tmp_path, monkeypatch):
    np.random.seed(0)
    torch.manual_seed(0)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny_overrides():
    return list(TINY_OVERRIDES)
