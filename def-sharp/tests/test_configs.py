import pytest
from def_sharp.config import DEFConfig, load
from shared_utils.config import ConfigError, list_packaged_configs


@pytest.mark.parametrize("path", list_packaged_configs("def_sharp"), ids=lambda p: p.stem)
def test_every_shipped_config_parses(path):
    cfg = load(path)
    assert isinstance(cfg, DEFConfig)
    assert len(cfg.model.decoder_widths) == len(cfg.model.encoder_blocks)


def test_shipped_configs_include_cpu_and_thesis():
    names = {p.stem for p in list_packaged_configs("def_sharp")}
    assert {"cpu", "thesis", "regression"} <= names


def test_thesis_config_matches_reference_facts():
    cfg = load("thesis")
    assert cfg.model.encoder_blocks == [3, 8, 36, 3] and cfg.model.block == "bottleneck"
    assert cfg.model.n_bins == 240 and cfg.model.margin_bins == 2 and cfg.model.head_kernel == 3
    assert cfg.optim.batch_size == 32 and cfg.optim.lr == pytest.approx(1e-3) and cfg.optim.lr_decay == 0.9
    assert cfg.trainer.early_stopping_patience == 10


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="max_step"):
        load("cpu", ["trainer.max_step=3"])
