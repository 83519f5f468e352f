import torch
from mobile_parsing_rcnn.models.necks import BiFPN, FastNormalizedFusion


def test_fusion_weights_are_normalised_and_non_negative():
    fusion = FastNormalizedFusion(3)
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([2.0, -1.0, 0.5]))
    w = fusion.normalized_weights()
    assert torch.all(w >= 0)
    assert w[1] == 0  # ReLU removes the negative weight
    expected = torch.tensor([2.0, 0.0, 0.5]) / (2.5 + 1e-4)
    assert torch.allclose(w, expected)
    assert abs(float(w.sum()) - 2.5 / (2.5 + 1e-4)) < 1e-7


def test_fusion_output_is_the_weighted_mean():
    fusion = FastNormalizedFusion(2)
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([3.0, 1.0]))
    a, b = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    out = fusion([a, b])
    assert torch.allclose(out, (3 * a + b) / (4 + 1e-4), atol=1e-6)


def test_bifpn_shapes_and_fusion_weights_get_gradients():
    neck = BiFPN([8, 16, 24, 32], 16)
    feats = [torch.randn(2, c, 64 // 2**i, 64 // 2**i) for i, c in enumerate([8, 16, 24, 32])]
    out = neck(feats)
    assert list(out) == ["p2", "p3", "p4", "p5", "p6"]
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    sum(v.sum() for v in out.values()).backward()
    fusions = [m for m in neck.modules() if isinstance(m, FastNormalizedFusion)]
    assert len(fusions) == 6 and all(f.weight.grad is not None for f in fusions)
