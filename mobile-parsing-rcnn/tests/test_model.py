from collections import OrderedDict

import pytest
import torch
from mobile_parsing_rcnn.config import load
from mobile_parsing_rcnn.models.detector import build_model, iuv_from_outputs


@pytest.fixture(scope="module")
def model_b():
    cfg = load("thesis", ["model.backbone.pretrained=false"])
    torch.manual_seed(0)
    return build_model(cfg.model, cfg.loss).eval()


def test_densepose_head_pools_from_p2_only(model_b):
    assert model_b.roi_heads.densepose_pooler.featmap_names == ["p2"]
    images = model_b.preprocess([torch.rand(3, 128, 160)])
    with torch.no_grad():
        feats = model_b.backbone(images.tensors)
        boxes = [torch.tensor([[10.0, 12.0, 90.0, 120.0], [40.0, 5.0, 150.0, 100.0]])]
        ref = model_b.roi_heads.densepose_forward(feats, boxes, images.image_sizes)
        other_levels = OrderedDict((k, torch.randn_like(v) if k != "p2" else v) for k, v in feats.items())
        same = model_b.roi_heads.densepose_forward(other_levels, boxes, images.image_sizes)
        changed_p2 = OrderedDict((k, torch.randn_like(v) if k == "p2" else v) for k, v in feats.items())
        diff = model_b.roi_heads.densepose_forward(changed_p2, boxes, images.image_sizes)
    for a, b in zip(ref, same, strict=False):
        assert torch.equal(a, b)
    assert not torch.allclose(ref[1], diff[1])


def test_output_shapes_in_inference(model_b):
    with torch.no_grad():
        out = model_b([torch.rand(3, 96, 128), torch.rand(3, 128, 96)])
    assert len(out) == 2
    for det in out:
        n = len(det["boxes"])
        assert det["dp_coarse"].shape == (n, 15, 64, 64)
        assert det["dp_fine"].shape == det["dp_u"].shape == det["dp_v"].shape == (n, 25, 64, 64)


def test_training_returns_all_losses(model_b):
    model = model_b.train()
    target = {
        "boxes": torch.tensor([[10.0, 10.0, 60.0, 110.0]]), "labels": torch.ones(1, dtype=torch.int64),
        "dp_has": torch.tensor([True]), "dp_masks": torch.randint(0, 15, (1, 256, 256), dtype=torch.uint8),
        "dp_points": torch.tensor([[0, 128.0, 100.0, 2, 0.3, 0.7], [0, 30.0, 200.0, 9, 0.5, 0.5]]),
    }
    losses = model([torch.rand(3, 128, 96)], [target])
    model.eval()
    assert {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_densepose_I",
            "loss_densepose_U", "loss_densepose_V", "loss_densepose_S"} == set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_densepose_S"] > 0  # the ground-truth box is always a positive proposal


def test_iuv_uses_coarse_foreground_and_the_selected_part_channels():
    coarse = torch.zeros(1, 15, 2, 2)
    coarse[0, 0, 0, 0] = 5.0  # background at (0, 0)
    coarse[0, 3, 1:, :] = 5.0
    coarse[0, 3, 0, 1] = 5.0
    fine = torch.zeros(1, 25, 2, 2)
    fine[0, 7] = 1.0
    u = torch.zeros(1, 25, 2, 2)
    u[0, 7] = 0.25
    v = torch.full((1, 25, 2, 2), 0.75)
    iuv = iuv_from_outputs(coarse, fine, u, v)
    assert iuv[0, 0, 0, 0] == 0 and iuv[0, 1, 0, 0] == 0
    assert torch.all(iuv[0, 0].flatten()[1:] == 7)
    assert torch.allclose(iuv[0, 1].flatten()[1:], torch.tensor(0.25))
    assert torch.allclose(iuv[0, 2].flatten()[1:], torch.tensor(0.75))


def test_foreground_rules_differ_where_part_mass_is_split():
    probs = torch.zeros(1, 15, 1, 2)
    probs[0, 0, 0, 0], probs[0, 3, 0, 0], probs[0, 4, 0, 0] = 0.4, 0.3, 0.3  # background wins the argmax only
    probs[0, 0, 0, 1], probs[0, 3, 0, 1], probs[0, 4, 0, 1] = 0.6, 0.2, 0.2  # background in both rules
    coarse = probs.clamp_min(1e-6).log()
    fine = torch.zeros(1, 25, 1, 2)
    fine[0, 7] = 1.0
    u = torch.full((1, 25, 1, 2), 0.25)
    v = torch.full((1, 25, 1, 2), 0.75)
    by_argmax = iuv_from_outputs(coarse, fine, u, v, "argmax")
    by_probability = iuv_from_outputs(coarse, fine, u, v, "probability")
    assert by_argmax[0, 0].tolist() == [[0.0, 0.0]]
    assert by_probability[0, :, 0, 0].tolist() == [7.0, 0.25, 0.75]
    assert by_probability[0, :, 0, 1].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="foreground"):
        iuv_from_outputs(coarse, fine, u, v, "sum")
