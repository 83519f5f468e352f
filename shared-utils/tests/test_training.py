import csv
import os
import pathlib
import subprocess
import sys

import lightning
import pytest
import torch
from shared_utils.config import load_config
from shared_utils.errors import InputError
from shared_utils.training import AtomicCheckpointIO, TrainerConfig, build_trainer, last_checkpoint
from torch.utils.data import DataLoader, TensorDataset


class TinyModule(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g))
    return DataLoader(data, batch_size=4)


class _Endless(torch.utils.data.IterableDataset):
    """A loader with no epoch end, as step-driven training uses."""

    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(4, generator=g), torch.randn(1, generator=g)


def cpu_config(**overrides):
    return TrainerConfig(accelerator="cpu", enable_progress_bar=False, log_every_n_steps=1, **overrides)


class TestBuildTrainer:
    def test_two_steps_checkpoint_logs_and_resume(self, tmp_path):
        trainer = build_trainer(cpu_config(max_steps=2), tmp_path / "run")
        trainer.fit(TinyModule(), loader())
        assert trainer.global_step == 2
        ckpt = last_checkpoint(tmp_path / "run")
        assert ckpt == tmp_path / "run" / "checkpoints" / "last.ckpt"
        assert [p.name for p in ckpt.parent.iterdir()] == ["last.ckpt"]
        metrics = list((tmp_path / "run" / "logs" / "csv").glob("version_*/metrics.csv"))
        assert len(metrics) == 1
        rows = list(csv.DictReader(metrics[0].open()))
        assert any(row.get("train/loss") for row in rows)
        assert list((tmp_path / "run" / "logs" / "tensorboard").glob("version_*/events.out.tfevents.*"))

        resumed = build_trainer(cpu_config(max_steps=4), tmp_path / "run")
        resumed.fit(TinyModule(), loader(), ckpt_path=ckpt)
        assert resumed.global_step == 4
        assert torch.load(last_checkpoint(tmp_path / "run"), weights_only=False)["global_step"] == 4

    def test_interrupted_run_leaves_a_periodic_last_checkpoint(self, tmp_path):
        class Interrupt(lightning.Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == 7:
                    raise RuntimeError("killed")

        endless = torch.utils.data.DataLoader(_Endless(), batch_size=4)
        trainer = build_trainer(cpu_config(max_steps=100, checkpoint_every_n_steps=3), tmp_path,
                                extra_callbacks=[Interrupt()])
        with pytest.raises(RuntimeError, match="killed"):
            trainer.fit(TinyModule(), endless)
        saved = torch.load(last_checkpoint(tmp_path), weights_only=False)
        assert saved["global_step"] == 6

    def test_monitor_best_and_early_stopping(self, tmp_path):
        cfg = cpu_config(max_steps=8, val_check_interval=2, early_stopping_patience=1, check_val_every_n_epoch=None)
        trainer = build_trainer(cfg, tmp_path, monitor="val/loss")
        names = {type(c).__name__ for c in trainer.callbacks}
        assert {"ModelCheckpoint", "EarlyStopping", "LearningRateMonitor"} <= names
        trainer.fit(TinyModule(), loader(), loader())
        assert list((tmp_path / "checkpoints").glob("best-*.ckpt"))

    def test_checkpoints_are_written_atomically(self, tmp_path, monkeypatch):
        trainer = build_trainer(cpu_config(max_steps=2), tmp_path)
        assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
        trainer.fit(TinyModule(), loader())
        before = last_checkpoint(tmp_path).read_bytes()

        def crash(obj, f, *args, **kwargs):  # dies half-way through writing, like a kill during a save
            f.write(b"partial")
            raise KeyboardInterrupt

        monkeypatch.setattr(torch, "save", crash)
        with pytest.raises(KeyboardInterrupt):
            trainer.save_checkpoint(last_checkpoint(tmp_path))
        assert last_checkpoint(tmp_path).read_bytes() == before
        assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.ckpt"]  # no temporary file left

    def test_progress_lines_when_output_is_not_a_terminal(self, tmp_path, capsys, monkeypatch):
        monkeypatch.delenv("CI", raising=False)
        trainer = build_trainer(TrainerConfig(accelerator="cpu", max_steps=40, log_every_n_steps=1), tmp_path / "a")
        assert not trainer.progress_bar_callback  # a redrawn bar shows nothing in a file
        trainer.fit(TinyModule(), loader())
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
        assert len(lines) == 20
        assert lines[0].startswith("step 2/40 (5 %) train/loss ")
        assert lines[-1].startswith("step 40/40 (100 %)") and "spent" in lines[-1] and "left]" in lines[-1]

    def test_no_progress_output_under_ci(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setenv("CI", "true")
        build_trainer(TrainerConfig(accelerator="cpu", max_steps=4), tmp_path).fit(TinyModule(), loader())
        assert "step " not in capsys.readouterr().out

    def test_config_loads_trainer(self):
        cfg = load_config(TrainerConfig, overrides=["max_steps=3", "devices=2", "strategy=ddp"])
        assert (cfg.max_steps, cfg.devices, cfg.strategy) == (3, 2, "ddp")

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="no metric to monitor"):
            build_trainer(cpu_config(early_stopping_patience=2), tmp_path)
        with pytest.raises(InputError, match="mode 'best'"):
            build_trainer(cpu_config(), tmp_path, monitor="val/loss", mode="best")
        assert last_checkpoint(tmp_path / "nothing") is None


DDP_SCRIPT = """
import sys
import torch
from torch.utils.data import DataLoader, TensorDataset
sys.path.insert(0, {tests!r})
from test_training import TinyModule, loader
from shared_utils.training import build_trainer, last_checkpoint, TrainerConfig

cfg = TrainerConfig(max_steps=2, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False,
                    log_every_n_steps=1)
trainer = build_trainer(cfg, {out!r})
trainer.fit(TinyModule(), loader())
assert trainer.world_size == 2 and trainer.global_step == 2
assert torch.distributed.get_backend() == "gloo"
if trainer.is_global_zero:
    assert last_checkpoint({out!r}) is not None
    print("DDP-OK")
"""


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    """Lightning's ddp strategy re-launches the script, so it runs in its own interpreter (gloo on CPU)."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(pathlib.Path(__file__).parent), out=str(tmp_path / "run")))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                            cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DDP-OK" in result.stdout
