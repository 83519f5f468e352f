from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml
from shared_utils.config import (
    ConfigError,
    config_to_dict,
    list_packaged_configs,
    load_config,
    packaged_config,
    save_config,
)
from shared_utils.training import TrainerConfig


@dataclass
class DataConfig:
    root: str = "data"
    image_size: tuple[int, int] = (64, 64)
    scenes: list[str] = field(default_factory=lambda: ["a"])


@dataclass
class ExperimentConfig:
    name: str = "exp"
    lr: float = 1e-3
    seed: int = 0
    use_amp: bool = False
    loss: Literal["l1", "l2"] = "l1"
    weight_decay: float | None = None
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_steps=5))
    data: DataConfig = field(default_factory=DataConfig)


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


class TestLoadConfig:
    def test_defaults(self):
        cfg = load_config(ExperimentConfig)
        assert cfg == ExperimentConfig()

    def test_nested_dict_keeps_other_defaults(self):
        cfg = load_config(ExperimentConfig, {"trainer": {"precision": "16-mixed"}, "data": {"image_size": [8, 16]}})
        assert cfg.trainer.precision == "16-mixed"
        assert cfg.trainer.max_steps == 5  # the parent's default_factory value survives a partial mapping
        assert cfg.data.image_size == (8, 16) and isinstance(cfg.data.image_size, tuple)
        assert isinstance(cfg.trainer, TrainerConfig)

    def test_yaml_and_overrides_typed(self, tmp_path):
        path = _write(tmp_path / "cpu.yaml", {"lr": 0.1, "trainer": {"max_steps": 100}})
        cfg = load_config(ExperimentConfig, path, ["lr=1e-3", "trainer.max_steps=7", "data.scenes=[x, y]",
                                                   "use_amp=true", "weight_decay=null", "trainer.devices=auto",
                                                   "trainer.val_check_interval=0.5", "loss=l2"])
        assert cfg.lr == 1e-3 and isinstance(cfg.lr, float)
        assert cfg.trainer.max_steps == 7 and isinstance(cfg.trainer.max_steps, int)
        assert cfg.data.scenes == ["x", "y"]
        assert cfg.use_amp is True and cfg.weight_decay is None and cfg.loss == "l2"
        assert cfg.trainer.devices == "auto" and cfg.trainer.val_check_interval == 0.5

    def test_int_union_keeps_int(self):
        cfg = load_config(ExperimentConfig, overrides=["trainer.val_check_interval=100", "trainer.devices=2"])
        assert cfg.trainer.val_check_interval == 100 and isinstance(cfg.trainer.val_check_interval, int)
        assert cfg.trainer.devices == 2

    def test_int_float_union_keeps_the_value_type(self):
        # Lightning reads limit_val_batches=1 as one batch and 1.0 as all batches: the type matters.
        cfg = load_config(ExperimentConfig, overrides=["trainer.limit_val_batches=1.0"])
        assert isinstance(cfg.trainer.limit_val_batches, float)
        cfg = load_config(ExperimentConfig, overrides=["trainer.limit_val_batches=3"])
        assert isinstance(cfg.trainer.limit_val_batches, int)
        assert isinstance(load_config(ExperimentConfig).trainer.limit_val_batches, float)

    def test_base_inheritance(self, tmp_path):
        (tmp_path / "base").mkdir()
        _write(tmp_path / "base" / "root.yaml", {"name": "root", "seed": 1, "trainer": {"max_steps": 10}})
        _write(tmp_path / "base" / "mid.yaml", {"_base_": "root.yaml", "seed": 2, "trainer": {"precision": "bf16"}})
        path = _write(tmp_path / "child.yaml", {"_base_": "base/mid.yaml", "name": "child"})
        cfg = load_config(ExperimentConfig, path)
        assert (cfg.name, cfg.seed, cfg.trainer.max_steps, cfg.trainer.precision) == ("child", 2, 10, "bf16")

    def test_unknown_key_names_closest(self, tmp_path):
        path = _write(tmp_path / "cpu.yaml", {"trainer": {"max_step": 3}})
        with pytest.raises(ConfigError) as info:
            load_config(ExperimentConfig, path)
        assert str(info.value) == (
            "unknown config key 'trainer.max_step' in cpu.yaml; did you mean 'trainer.max_steps'?"
        )

    def test_unknown_key_in_override_and_base(self, tmp_path):
        with pytest.raises(ConfigError, match=r"unknown config key 'lrr' in override 'lrr=1'; did you mean 'lr'\?"):
            load_config(ExperimentConfig, overrides=["lrr=1"])
        _write(tmp_path / "base.yaml", {"sed": 1})
        path = _write(tmp_path / "child.yaml", {"_base_": "base.yaml"})
        with pytest.raises(ConfigError, match=r"'sed' in base.yaml; did you mean 'seed'"):
            load_config(ExperimentConfig, path)

    @pytest.mark.parametrize("override, key", [
        ("seed=abc", "seed"), ("seed=1.5", "seed"), ("use_amp=3", "use_amp"), ("loss=l3", "loss"),
        ("trainer.max_steps=[1]", "trainer.max_steps"), ("data.image_size=[1, 2, 3]", "data.image_size"),
        ("data.scenes=[[1]]", r"data.scenes\[0\]"), ("trainer=3", "trainer"),
    ])
    def test_wrong_type_names_key(self, override, key):
        with pytest.raises(ConfigError, match=f"config key '{key}'"):
            load_config(ExperimentConfig, overrides=[override])

    def test_bad_files(self, tmp_path):
        with pytest.raises(ConfigError, match="not found"):
            load_config(ExperimentConfig, tmp_path / "missing.yaml")
        (tmp_path / "bad.yaml").write_text("a: [1,\n")
        with pytest.raises(ConfigError, match="bad.yaml' is not valid YAML"):
            load_config(ExperimentConfig, tmp_path / "bad.yaml")
        (tmp_path / "list.yaml").write_text("- 1\n")
        with pytest.raises(ConfigError, match="mapping"):
            load_config(ExperimentConfig, tmp_path / "list.yaml")
        _write(tmp_path / "loop.yaml", {"_base_": "loop.yaml"})
        with pytest.raises(ConfigError, match="inherits from itself"):
            load_config(ExperimentConfig, tmp_path / "loop.yaml")
        with pytest.raises(ConfigError, match="key=value"):
            load_config(ExperimentConfig, overrides=["seed"])

    def test_required_field(self):
        @dataclass
        class Required:
            path: str
            n: int = 1

        assert load_config(Required, {"path": "x"}).path == "x"
        with pytest.raises(ConfigError, match="'path' is required"):
            load_config(Required)


class TestSaveConfig:
    def test_round_trip(self, tmp_path):
        cfg = load_config(ExperimentConfig, overrides=["lr=0.5", "data.image_size=[3, 4]"])
        save_config(cfg, tmp_path / "out" / "config.yaml")
        plain = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
        assert plain == config_to_dict(cfg)
        assert plain["data"]["image_size"] == [3, 4]
        assert load_config(ExperimentConfig, tmp_path / "out" / "config.yaml") == cfg


class TestPackagedConfig:
    def test_files_and_errors(self, tmp_path):
        path = _write(tmp_path / "x.yaml", {})
        assert packaged_config("shared_utils", str(path)) == path
        assert list_packaged_configs("shared_utils") == []
        with pytest.raises(ConfigError, match=r"config 'nope' is neither a file nor a config shipped with "
                                              r"shared_utils \(available: none\)"):
            packaged_config("shared_utils", "nope")

    def test_finds_package_configs(self, tmp_path, monkeypatch):
        package = tmp_path / "fake_member"
        (package / "configs").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        _write(package / "configs" / "default.yaml", {"seed": 3})
        _write(package / "configs" / "cpu.yaml", {"seed": 4})
        monkeypatch.syspath_prepend(str(tmp_path))
        assert [p.name for p in list_packaged_configs("fake_member")] == ["cpu.yaml", "default.yaml"]
        path = packaged_config("fake_member", "cpu")
        assert load_config(ExperimentConfig, path).seed == 4
        with pytest.raises(ConfigError, match=r"available: cpu, default"):
            packaged_config("fake_member", "gpu")
