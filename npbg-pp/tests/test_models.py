import pytest
import torch
from shared_utils.errors import InputError

from npbgpp.config import load
from npbgpp.models.extractor import UNetFeatureExtractor
from npbgpp.models.npbgpp import NPBGPP, view_directions
from npbgpp.models.refiner import GatedConv2d, GatedUNetRefiner


def test_gated_convolution_is_elu_times_sigmoid():
    layer = GatedConv2d(2, 3)
    x = torch.randn(1, 2, 5, 5)
    features, gate = layer.conv(x).chunk(2, dim=1)
    torch.testing.assert_close(layer(x), torch.nn.functional.elu(features) * torch.sigmoid(gate))
    assert layer.conv.padding_mode == "reflect"


def test_refiner_shapes_and_initial_bias():
    refiner = GatedUNetRefiner(8, (4, 6, 8))
    rasters = [torch.zeros(2, 9, 32 // 2**k, 32 // 2**k) for k in range(3)]
    out = refiner(rasters)
    assert out.shape == (2, 3, 32, 32)
    assert float(refiner.head.bias.detach().mean()) == 0.5
    with pytest.raises(ValueError):
        refiner(rasters[:2])


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_extractor_keeps_spatial_size(size, tiny_config):
    extractor = UNetFeatureExtractor(tiny_config.extractor)
    out = extractor(torch.rand(2, 3, *size))
    assert out.shape == (2, tiny_config.extractor.out_channels, *size)


def test_spnasnet_encoder_without_weights_logs_random_init(caplog, tiny_config):
    cfg = load("thesis").extractor
    with caplog.at_level("WARNING"):
        extractor = UNetFeatureExtractor(cfg)
    assert not extractor.pretrained
    assert "random init" in caplog.text and "spnasnet_100.pth" in caplog.text
    assert extractor(torch.rand(1, 3, 40, 40)).shape == (1, 8, 40, 40)


def test_missing_encoder_weights_can_be_an_error():
    from shared_utils.weights import WeightsNotFoundError

    cfg = load("thesis", ["extractor.missing_weights=error"]).extractor
    with pytest.raises(WeightsNotFoundError):
        UNetFeatureExtractor(cfg)


def test_encoder_weights_are_loaded_strictly(tmp_path, monkeypatch):
    import timm

    full = timm.create_model("spnasnet_100", pretrained=False)
    torch.save(full.state_dict(), tmp_path / "spnasnet_100.pth")
    cfg = load("thesis", [f"extractor.weights_path={tmp_path / 'spnasnet_100.pth'}"]).extractor
    extractor = UNetFeatureExtractor(cfg)
    assert extractor.pretrained
    torch.testing.assert_close(extractor.encoder.conv_stem.weight, full.conv_stem.weight)
    extractor.train()
    assert not extractor.encoder.training  # pretrained batch-norm statistics stay frozen


def test_view_directions_are_unit_and_point_away_from_camera():
    w2c = torch.eye(4)
    w2c[:3, 3] = torch.tensor([0.0, 0.0, 2.0])  # camera centre at (0, 0, -2)
    directions = view_directions(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, -2.0]]), w2c)
    torch.testing.assert_close(directions, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


def test_build_and_render_end_to_end(tiny_config, tiny_scene):
    model = NPBGPP(tiny_config)
    inputs = tiny_scene.input_indices.tolist()
    views = ((tiny_scene.images[i], tiny_scene.intrinsics[i], tiny_scene.w2c[i]) for i in inputs)
    scene = model.aggregate(views, tiny_scene.points)
    assert 0 < scene.points.shape[0] <= tiny_scene.points.shape[0]
    assert scene.beta.shape == (scene.points.shape[0], 6, tiny_config.extractor.out_channels)
    image = model.render(scene, tiny_scene.intrinsics[:2], tiny_scene.w2c[:2], 32, 32)
    assert image.shape == (2, 3, 32, 32) and bool(torch.isfinite(image).all())
    own = model.render_self_supervised(tiny_scene.points, tiny_scene.images[0], tiny_scene.intrinsics[0],
                                       tiny_scene.w2c[0])
    (image.mean() + own.mean()).backward()
    assert all(p.grad is not None for p in model.basis.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.extractor.parameters())


def test_cloud_outside_every_view_is_an_error(tiny_config, tiny_scene):
    model = NPBGPP(tiny_config)
    far = tiny_scene.points + torch.tensor([0.0, 0.0, 100.0])
    views = [(tiny_scene.images[0], tiny_scene.intrinsics[0], tiny_scene.w2c[0])]
    with pytest.raises(InputError, match="outside every input view"):
        model.aggregate(views, far)


def test_chunked_sampling_matches_unchunked(tiny_config, tiny_scene):
    model = NPBGPP(tiny_config).eval()
    views = [(tiny_scene.images[i], tiny_scene.intrinsics[i], tiny_scene.w2c[i]) for i in range(3)]
    with torch.no_grad():
        whole = model.aggregate(views, tiny_scene.points)
        model.cfg.render.point_chunk = 97
        chunked = model.aggregate(views, tiny_scene.points)
    torch.testing.assert_close(whole.beta, chunked.beta, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(whole.beta0, chunked.beta0)
