import pytest
import torch
from shared_utils.weights import WeightsNotFoundError
from torchvision.models import vgg19

from npbgpp.config import LossConfig
from npbgpp.losses import VGG_RELU_INDICES, NPBGPPLoss, crop_border


def test_missing_vgg_weights_fall_back_to_logged_l1(caplog):
    with caplog.at_level("WARNING"):
        loss = NPBGPPLoss(LossConfig(perceptual_fallback="l1", border=2))
    assert loss.perceptual is None and "vgg19-dcbb9e9d.pth" in caplog.text and "L1" in caplog.text
    prediction, target = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    terms = loss.image_terms(prediction, target)
    expected = torch.nn.functional.l1_loss(prediction[..., 2:-2, 2:-2], target[..., 2:-2, 2:-2])
    torch.testing.assert_close(terms["perceptual_l1_fallback"], expected)
    down = torch.nn.functional.avg_pool2d(prediction[..., 2:-2, 2:-2], 4)
    down_target = torch.nn.functional.avg_pool2d(target[..., 2:-2, 2:-2], 4)
    torch.testing.assert_close(terms["downsampled_l1"] / 2500.0, torch.nn.functional.l1_loss(down, down_target))


def test_missing_vgg_weights_can_be_an_error():
    with pytest.raises(WeightsNotFoundError):
        NPBGPPLoss(LossConfig(perceptual_fallback="error"))


def test_vgg_perceptual_with_weights_file(tmp_path):
    torch.save(vgg19(weights=None).state_dict(), tmp_path / "vgg19.pth")
    loss = NPBGPPLoss(LossConfig(vgg_weights_path=str(tmp_path / "vgg19.pth"), border=0))
    assert loss.perceptual is not None and loss.perceptual_mode == "vgg19"
    assert len(VGG_RELU_INDICES) == 13
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in loss.perceptual.layers)
    image = torch.rand(1, 3, 32, 32)
    assert float(loss.perceptual(image, image)) == 0.0
    assert float(loss.perceptual(image, torch.rand(1, 3, 32, 32))) > 0.0


def test_crop_border():
    assert crop_border(torch.zeros(1, 3, 10, 12), 2).shape == (1, 3, 6, 8)
    assert crop_border(torch.zeros(1, 3, 10, 12), 0).shape == (1, 3, 10, 12)
