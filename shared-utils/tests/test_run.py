import json
import os
import pathlib
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import pytest
from shared_utils.config import load_config
from shared_utils.errors import InputError
from shared_utils.io.atomic import save_json
from shared_utils.run import (
    DATA_ROOT_ENV,
    RunDir,
    config_hash,
    data_root,
    metrics_without_provenance,
    pipeline_exit_code,
    provenance,
    time_limit_message,
)
from shared_utils.training import TrainerConfig


@dataclass
class RunConfig:
    seed: int = 0
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(source, overrides=()):
    return load_config(RunConfig, source, overrides)


class TestRunDir:
    def test_layout(self, tmp_path):
        run = RunDir(tmp_path / "run")
        assert run.config == tmp_path / "run" / "config.yaml"
        assert run.last_checkpoint == tmp_path / "run" / "checkpoints" / "last.ckpt"
        assert (run.metrics.name, run.results.name, run.report.name) == ("metrics.json", "results.md", "report.html")
        assert run.resume_checkpoint() is None

    def test_saved_config_and_overrides(self, tmp_path):
        run = RunDir(tmp_path / "run").create()
        run.save_config(load(None, ["seed=7"]))
        cfg = run.load_config(load, ["trainer.max_steps=3"])
        assert cfg.seed == 7 and cfg.trainer.max_steps == 3

    def test_exceptions(self, tmp_path):
        with pytest.raises(InputError, match="not found"):
            RunDir(tmp_path / "absent").require()
        (tmp_path / "file").write_text("")
        with pytest.raises(InputError, match="not a folder"):
            RunDir(tmp_path / "file").require()
        with pytest.raises(InputError, match="no config.yaml"):
            RunDir(tmp_path).require()
        run = RunDir(tmp_path / "run").create()
        run.save_config(RunConfig())
        with pytest.raises(InputError, match="no checkpoint"):
            run.best_checkpoint()

    def test_best_checkpoint_prefers_best_over_last(self, tmp_path):
        run = RunDir(tmp_path).create()
        run.save_config(RunConfig())
        run.checkpoints.mkdir()
        run.last_checkpoint.write_bytes(b"x")
        assert run.best_checkpoint() == run.last_checkpoint
        (run.checkpoints / "best-step=4.ckpt").write_bytes(b"x")
        assert run.best_checkpoint().name == "best-step=4.ckpt"

    def test_metrics_captions_and_permissions(self, tmp_path):
        run = RunDir(tmp_path).create()
        cfg = RunConfig()
        block = provenance(cfg, seed=0, steps={"train": 5}, wall_time_s=1.23)
        run.write_metrics({"psnr": 20.0}, block)
        written = run.read_metrics()
        assert written["psnr"] == 20.0 and written["provenance"]["steps"] == {"train": 5}
        assert metrics_without_provenance(written) == {"psnr": 20.0}
        run.add_caption("a.png", "rows: target, ours")
        run.add_caption("b.png", "distance in mm")
        assert json.loads(run.captions.read_text()) == {"a.png": "rows: target, ours", "b.png": "distance in mm"}
        mask = os.umask(0)
        os.umask(mask)
        assert stat.S_IMODE(run.metrics.stat().st_mode) == 0o666 & ~mask


class TestProvenance:
    def test_fields(self):
        block = provenance(RunConfig(), seed=3, steps={"a": 1}, wall_time_s=2.0)
        assert set(block) >= {"config_sha256", "seed", "steps", "wall_time_s", "machine", "time_limit_reached"}
        assert block["machine"]["cpu_cores"] == os.cpu_count()
        assert block["machine"]["torch"]

    def test_hash_is_a_function_of_the_values(self):
        assert config_hash(RunConfig()) == config_hash(load(None))
        assert config_hash(RunConfig()) != config_hash(load(None, ["seed=1"]))

    def test_pipeline_exit_code(self, capsys):
        full = {"provenance": provenance(RunConfig(), seed=0, steps={"train": 3}, wall_time_s=1)}
        assert pipeline_exit_code(full) == 0 and capsys.readouterr().err == ""
        full["provenance"]["time_limit_reached"] = True
        assert pipeline_exit_code(full) == 3
        assert capsys.readouterr().err.startswith("warning: the opt-in time limit")

    def test_time_limit_message(self):
        cut = {"provenance": provenance(RunConfig(), seed=0, steps={"train": 3}, wall_time_s=1,
                                        time_limit_reached=True)}
        assert "time limit" in time_limit_message(cut)
        assert time_limit_message({"provenance": {"time_limit_reached": False}}) is None


class TestDataRoot:
    def test_rule(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
        assert data_root("def") == pathlib.Path("data/def")
        monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
        assert data_root("def") == tmp_path / "env" / "def"
        assert data_root("def", tmp_path / "mine") == tmp_path / "mine"
        assert (tmp_path / "mine").is_dir()

    def test_exceptions(self, tmp_path, monkeypatch):
        blocker = tmp_path / "file"
        blocker.write_text("")
        monkeypatch.setenv(DATA_ROOT_ENV, str(blocker))
        with pytest.raises(InputError, match=r"\$THESIS_DATA_ROOT .* is a file"):
            data_root("lvt")
        with pytest.raises(InputError, match="a part of the path is a file"):
            data_root("lvt", blocker / "sub")


def test_data_lock_serialises_two_processes(tmp_path):
    """Two writers that each append begin/end markers never interleave while holding the lock."""
    script = textwrap.dedent(f"""
        import sys, time
        from shared_utils.run import data_lock
        with data_lock({str(tmp_path)!r}):
            with open({str(tmp_path / 'log')!r}, 'a') as f:
                f.write('begin ' + sys.argv[1] + '\\n'); f.flush()
                time.sleep(0.3)
                f.write('end ' + sys.argv[1] + '\\n')
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("a", "b")]
    assert all(p.wait(60) == 0 for p in procs)
    lines = (tmp_path / "log").read_text().split()
    events = list(zip(lines[::2], lines[1::2], strict=True))
    assert [kind for kind, _ in events] == ["begin", "end", "begin", "end"]
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]


def test_save_json_keeps_umask_permissions(tmp_path):
    save_json({"a": 1}, tmp_path / "x.json")
    mode = stat.S_IMODE((tmp_path / "x.json").stat().st_mode)
    assert mode & 0o044, f"mode {oct(mode)} is not readable by group/others"
