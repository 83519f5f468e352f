import pytest
from shared_utils.config import ConfigError, list_packaged_configs

from npbgpp.config import NPBGPPConfig, load
from npbgpp.models.npbgpp import NPBGPP


@pytest.mark.parametrize("path", list_packaged_configs("npbgpp"), ids=lambda p: p.stem)
def test_every_shipped_config_parses(path):
    cfg = load(str(path))
    assert isinstance(cfg, NPBGPPConfig)
    assert len(cfg.render.refiner_channels) == cfg.render.num_scales


def test_expected_configs_are_shipped():
    names = {p.stem for p in list_packaged_configs("npbgpp")}
    assert {"cpu", "thesis", "tiny", "nerf_synthetic", "dtu", "scannet"} <= names


def test_thesis_values():
    cfg = load("thesis")
    assert cfg.aggregator.basis_size == 6 and cfg.aggregator.ridge_alpha == 1.0
    assert cfg.render.refiner_channels == [16, 32, 48, 64, 80]
    assert (cfg.loss.perceptual_weight, cfg.loss.downsampled_l1_weight, cfg.loss.regularization_weight) == (
        1.0, 2500.0, 1000.0)
    assert cfg.train.lr == 1e-4 and cfg.train.batch_size == 8 and cfg.train.crop_size == 256
    assert load("scannet").render.visibility_scale == 0.5


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="did you mean"):
        load("cpu", ["trainer.max_step=3"])


def test_override_is_applied():
    assert load("cpu", ["train.lr=0.5"]).train.lr == 0.5


def test_every_config_builds_its_model():
    # The thesis extractor asks for pretrained weights; they are absent here, so the logged random init is used.
    for path in list_packaged_configs("npbgpp"):
        NPBGPP(load(str(path)))


@pytest.mark.parametrize("name", ["cpu", "thesis"])
def test_checkpoints_fall_on_epoch_boundaries(name):
    """A resumed run restarts its epoch's sample stream: only checkpoints at epoch ends resume exactly."""
    cfg = load(name)
    steps_per_epoch = cfg.train.samples_per_epoch // cfg.train.batch_size
    assert cfg.train.samples_per_epoch % cfg.train.batch_size == 0
    assert cfg.trainer.checkpoint_every_n_steps % steps_per_epoch == 0
