"""Two processes generating the same data set into one data root at once: one generates, the other waits for the
root's lock and reads the finished set; neither sees or leaves a half-written file."""

import os
import subprocess

import numpy as np
from def_sharp.config import load
from def_sharp.data.defsim import SPLITS, dataset_dir, load_split
from shared_utils.testing import console_script


def test_two_processes_share_one_data_root(tiny_reference, tmp_path, monkeypatch):
    _, reference_root = tiny_reference
    root = tmp_path / "shared-data"
    env = {"THESIS_DATA_ROOT": str(root), "CI": "true", "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen([console_script("def-sharp"), "make-data", "--config", "tiny"], cwd=tmp_path,
                                  env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    cfg = load("tiny")
    monkeypatch.setenv("THESIS_DATA_ROOT", str(root))
    folder = dataset_dir(cfg.data)
    assert sorted(p.name for p in folder.parent.iterdir()) == [".lock", folder.name]  # no staging left behind
    monkeypatch.setenv("THESIS_DATA_ROOT", str(reference_root))
    reference = dataset_dir(cfg.data)
    for split in SPLITS:
        shared, alone = load_split(folder, split), load_split(reference, split)
        for name in ("depth", "mask", "distance", "shape"):
            assert np.array_equal(getattr(shared, name), getattr(alone, name)), (split, name)
