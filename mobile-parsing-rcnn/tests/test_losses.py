import torch
import torch.nn.functional as F
from mobile_parsing_rcnn.config import LossConfig
from mobile_parsing_rcnn.losses import densepose_losses, resample_masks, sample_bilinear


def test_sample_bilinear_matches_grid_sample():
    maps = torch.randn(3, 5, 8, 8)
    roi = torch.tensor([0, 2, 1, 1])
    gx = torch.tensor([0.5, 3.2, 7.5, 4.0])
    gy = torch.tensor([0.5, 6.9, 2.25, 0.5])
    ours = sample_bilinear(maps, roi, gx, gy)
    grid = torch.stack([gx / 8 * 2 - 1, gy / 8 * 2 - 1], -1)
    ref = torch.stack([F.grid_sample(maps[r:r + 1], grid[i].view(1, 1, 1, 2), align_corners=False)[0, :, 0, 0]
                       for i, r in enumerate(roi.tolist())])
    assert torch.allclose(ours, ref, atol=1e-5)


def test_resample_masks_identity_and_shift():
    masks = torch.randint(0, 15, (1, 256, 256), dtype=torch.uint8)
    box = torch.tensor([[0.0, 0.0, 256.0, 256.0]])
    assert torch.equal(resample_masks(masks, box, box, 256), masks.long())
    shifted = resample_masks(masks, box, torch.tensor([[128.0, 0.0, 384.0, 256.0]]), 256)
    assert torch.equal(shifted[0, :, :128], masks[0, :, 128:].long())
    assert torch.all(shifted[0, :, 128:] == 0)  # outside the ground-truth box: background


def test_perfect_uv_gives_zero_uv_loss_and_weights_apply():
    size = 64
    coarse = torch.zeros(1, 15, size, size)
    fine = torch.zeros(1, 25, size, size)
    fine[0, 3] = 20.0  # confident part 3 everywhere
    u = torch.zeros(1, 25, size, size)
    v = torch.zeros(1, 25, size, size)
    u[0, 3], v[0, 3] = 0.4, 0.6
    box = torch.tensor([[0.0, 0.0, 64.0, 64.0]])
    points = torch.tensor([[0, 100.0, 50.0, 3, 0.4, 0.6], [0, 10.0, 200.0, 3, 0.4, 0.6]])
    masks = torch.zeros(1, 256, 256, dtype=torch.uint8)
    losses = densepose_losses((coarse, fine, u, v), box, box, points, masks, LossConfig())
    assert losses["loss_densepose_U"] < 1e-10 and losses["loss_densepose_V"] < 1e-10
    assert losses["loss_densepose_I"] < 1e-6
    v[0, 3] = 1.6  # error of 1 -> smooth L1 0.5 per point, 2 points, weight 0.1
    losses = densepose_losses((coarse, fine, u, v), box, box, points, masks, LossConfig())
    assert torch.isclose(losses["loss_densepose_V"], torch.tensor(0.1 * 2 * 0.5))
    # uniform coarse logits: cross-entropy log(15), times INDEX_WEIGHTS 2.0
    assert torch.isclose(losses["loss_densepose_S"], torch.log(torch.tensor(15.0)) * 2.0)


def test_points_outside_the_proposal_are_ignored():
    outputs = tuple(torch.zeros(1, c, 8, 8, requires_grad=True) for c in (15, 25, 25, 25))
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    roi = torch.tensor([[0.0, 0.0, 50.0, 50.0]])
    points = torch.tensor([[0, 200.0, 200.0, 5, 0.5, 0.5]])  # image (78, 78): outside the RoI
    losses = densepose_losses(outputs, roi, gt, points, torch.zeros(1, 256, 256, dtype=torch.uint8), LossConfig())
    assert losses["loss_densepose_U"] == 0 and losses["loss_densepose_I"] == 0
