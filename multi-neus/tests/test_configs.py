import pytest
from multi_neus.config import MultiNeuSConfig, load
from shared_utils.config import ConfigError, list_packaged_configs


def test_every_shipped_config_parses():
    paths = list_packaged_configs("multi_neus")
    assert {p.stem for p in paths} >= {"cpu", "thesis", "tiny"}
    for path in paths:
        assert isinstance(load(path), MultiNeuSConfig)


def test_unknown_key_is_rejected_with_suggestion():
    with pytest.raises(ConfigError, match="max_steps"):
        load("cpu", ["meta.trainer.max_step=3"])


def test_overrides_are_typed():
    cfg = load("cpu", ["multi_scene.rank=0", "fit.views=[0, 3]"])
    assert cfg.multi_scene.rank == 0 and cfg.fit.views == [0, 3]
