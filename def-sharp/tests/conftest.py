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
    monkeypatch.setenv("CI", "true")  # no progress bars in captured output
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def untrained_run(tmp_path_factory):
    """A run folder of the tiny config (config.yaml + checkpoints/last.ckpt) holding an untrained network: enough
    for the commands that read a run (eval, predict, curves) to exercise their plumbing."""
    import lightning as L
    from def_sharp.config import load
    from def_sharp.lightning import DEFModule
    from shared_utils.run import RunDir

    cfg = load("tiny")
    run = RunDir(tmp_path_factory.mktemp("untrained") / "run").create()
    run.save_config(cfg)
    module = DEFModule.from_config(cfg, input_scale=2.0)
    trainer = L.Trainer(accelerator="cpu", max_steps=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    run.checkpoints.mkdir()
    trainer.save_checkpoint(run.last_checkpoint)
    return run.path


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory):
    """One uninterrupted `def-sharp pipeline --config tiny` run (seed 0), shared by the determinism and the resume
    tests: (run folder, data root). Runs in this process, single-threaded like the subprocesses the tests start."""
    from def_sharp.cli import main

    base = tmp_path_factory.mktemp("tiny_reference")
    data_root = base / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("THESIS_DATA_ROOT", str(data_root))
        patch.setenv("CI", "true")
        patch.chdir(base)
        assert main(["pipeline", "--config", "tiny", "--output-dir", str(base / "run")]) == 0
    return base / "run", data_root
