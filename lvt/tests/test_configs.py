import pytest
from lvt.config import LVTConfig, load
from lvt.models.subscale import slice_shape
from shared_utils.config import ConfigError, list_packaged_configs


@pytest.mark.parametrize("path", list_packaged_configs("lvt"), ids=lambda p: p.stem)
def test_every_shipped_config_parses(path):
    cfg = load(path)
    assert isinstance(cfg, LVTConfig)
    latent = cfg.data.resolution // 2**cfg.vqvae.num_downsamples
    inner = slice_shape((cfg.data.num_frames, latent, latent), tuple(cfg.transformer.subscale))
    for block in cfg.transformer.encoder_blocks + cfg.transformer.decoder_blocks:
        assert all(n % b == 0 for n, b in zip(inner, block, strict=True))
    assert cfg.vqvae.channels % cfg.vqvae.num_parts == 0


def test_shipped_configs_include_cpu_and_thesis_variants():
    names = {p.stem for p in list_packaged_configs("lvt")}
    assert {"tiny", "cpu", "thesis", "thesis_nc1", "thesis_nc4"} <= names
    assert load("thesis_nc1").vqvae.num_parts == 1
    assert load("thesis_nc4").vqvae.num_parts == 4


def test_unknown_key_is_rejected_with_suggestion():
    with pytest.raises(ConfigError, match="did you mean"):
        load("cpu", ["vqvae.codebook_sise=3"])


def test_overrides_are_typed():
    cfg = load("cpu", ["transformer.subscale=[2,2,2]", "vqvae.lr=1e-3"])
    assert tuple(cfg.transformer.subscale) == (2, 2, 2)
    assert cfg.vqvae.lr == pytest.approx(1e-3)


@pytest.mark.parametrize("name,parts", [("thesis_nc1", 1), ("thesis_nc4", 4)])
def test_thesis_vqvae_maps_64px_frames_to_16x16_codes(name, parts):
    import torch
    from lvt.lightning import model_kwargs
    from lvt.models.vqvae import VQVAE

    cfg = load(name)
    model = VQVAE(**model_kwargs(VQVAE, cfg.vqvae)).eval()
    codes = model.encode(torch.zeros(1, 3, 64, 64))
    assert codes.shape == (1, parts, 16, 16)
    assert model.quantizer.embedding.shape == (parts, 512, 256 // parts)
