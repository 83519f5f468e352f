import pytest
from mobile_parsing_rcnn.config import Config, load
from shared_utils.config import ConfigError, list_packaged_configs

CONFIGS = sorted(p.stem for p in list_packaged_configs("mobile_parsing_rcnn"))


def test_all_thesis_variants_are_shipped():
    assert {"cpu", "thesis", "variant_a", "bifpn_256", "bifpn_112", "bifpn_88", "densepose_rcnn_r50_fpn",
            "parsing_rcnn_r50_fpn"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_parses(name):
    cfg = load(name)
    assert isinstance(cfg, Config)
    assert cfg.model.densepose_head.num_coarse_segm_channels == 15
    assert cfg.model.densepose_head.num_patches == 24


def test_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'trainer.max_steps'"):
        load("cpu", ["trainer.max_step=3"])


def test_override_types_are_converted():
    cfg = load("cpu", ["model.neck.out_channels=88", "optim.base_lr=1e-3"])
    assert cfg.model.neck.out_channels == 88 and cfg.optim.base_lr == pytest.approx(1e-3)
