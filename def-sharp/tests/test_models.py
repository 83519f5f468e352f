import pytest
import torch
from def_sharp.models.unet import ResNetUNet


@pytest.mark.parametrize("block,blocks", [("basic", [2, 2, 2, 2]), ("bottleneck", [1, 1, 1, 1])])
@pytest.mark.parametrize("size", [(64, 64), (50, 37)])
def test_unet_keeps_resolution_and_backpropagates(block, blocks, size):
    net = ResNetUNet(blocks, block, 8, [32, 16, 8, 8], out_channels=5, head_kernel=3)
    x = torch.randn(2, 1, *size, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 5, *size)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_first_convolution_has_stride_one_and_one_input_channel():
    net = ResNetUNet([2, 2, 2, 2], "basic", 16, [64, 32, 16, 16], out_channels=244)
    first = net.encoder.stem[0]
    assert first.stride == (1, 1) and first.in_channels == 1
    features = net.encoder(torch.zeros(1, 1, 64, 64))
    assert [f.shape[-1] for f in features] == [64, 32, 16, 8, 4]


def test_decoder_width_count_is_checked():
    with pytest.raises(ValueError):
        ResNetUNet([2, 2, 2, 2], "basic", 8, [16, 8], out_channels=1)
