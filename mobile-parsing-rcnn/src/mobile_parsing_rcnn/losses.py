"""DensePose R-CNN losses on the head outputs of the proposals matched to annotated people.

Point losses use the annotated points: ``(dp_x, dp_y)`` lie on a 256-grid over the ground-truth box; they are mapped
into the proposal's S x S output grid (pixel-centre convention) and the outputs are sampled bilinearly there.
- ``loss_densepose_I``: cross-entropy of the 25 fine-part logits at the points (weight PART_WEIGHTS);
- ``loss_densepose_U`` / ``loss_densepose_V``: smooth-L1 (beta 1), summed over foreground points, of the U/V channel of
  the annotated part (weight POINT_REGRESSION_WEIGHTS);
- ``loss_densepose_S``: cross-entropy of the 15-way coarse segmentation over the whole output grid, the 256 x 256
  ground-truth part mask resampled (nearest) from the ground-truth box onto the proposal grid (weight INDEX_WEIGHTS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LossConfig


def sample_bilinear(maps: torch.Tensor, roi_index: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (P, C) of ``maps`` (R, C, S, S) at continuous pixel coordinates (gx, gy) of RoI ``roi_index``.

    Pixel (i, j) has its centre at (j + 0.5, i + 0.5); coordinates are clamped to the outermost centres.
    """
    s_h, s_w = maps.shape[-2:]
    x = (gx - 0.5).clamp(0, s_w - 1)
    y = (gy - 0.5).clamp(0, s_h - 1)
    x0, y0 = x.floor().long().clamp(max=s_w - 1), y.floor().long().clamp(max=s_h - 1)
    x1, y1 = (x0 + 1).clamp(max=s_w - 1), (y0 + 1).clamp(max=s_h - 1)
    wx, wy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
    r = roi_index
    return (maps[r, :, y0, x0] * (1 - wx) * (1 - wy) + maps[r, :, y0, x1] * wx * (1 - wy)
            + maps[r, :, y1, x0] * (1 - wx) * wy + maps[r, :, y1, x1] * wx * wy)


def resample_masks(masks: torch.Tensor, gt_boxes: torch.Tensor, roi_boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest resampling of label masks (R, M, M) defined over ``gt_boxes`` onto a size x size grid over ``roi_boxes``.

    Grid cells outside the ground-truth box get label 0 (background).
    """
    centers = (torch.arange(size, device=roi_boxes.device, dtype=torch.float32) + 0.5) / size
    rx0, ry0, rx1, ry1 = roi_boxes.unbind(1)
    gx0, gy0, gx1, gy1 = gt_boxes.unbind(1)
    px = rx0[:, None] + centers[None] * (rx1 - rx0)[:, None]
    py = ry0[:, None] + centers[None] * (ry1 - ry0)[:, None]
    m = masks.shape[-1]
    mx = ((px - gx0[:, None]) / (gx1 - gx0).clamp(min=1e-6)[:, None] * m).floor().long()
    my = ((py - gy0[:, None]) / (gy1 - gy0).clamp(min=1e-6)[:, None] * m).floor().long()
    valid_x, valid_y = (mx >= 0) & (mx < m), (my >= 0) & (my < m)
    r = torch.arange(len(masks), device=masks.device)[:, None, None]
    out = masks[r, my.clamp(0, m - 1)[:, :, None], mx.clamp(0, m - 1)[:, None, :]].long()
    return out * (valid_y[:, :, None] & valid_x[:, None, :])


def densepose_losses(outputs, roi_boxes: torch.Tensor, gt_boxes: torch.Tensor, points: torch.Tensor,
                     masks: torch.Tensor, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """The four DensePose losses.

    Args:
        outputs: (coarse (R, 15, S, S), fine (R, 25, S, S), u (R, 25, S, S), v (R, 25, S, S)).
        roi_boxes, gt_boxes: (R, 4) xyxy proposal boxes and their matched ground-truth boxes.
        points: (P, 6) rows ``[roi index, dp_x, dp_y, dp_I, dp_U, dp_V]`` (dp_x, dp_y on the 256 box grid).
        masks: (R, 256, 256) coarse-part label masks of the matched people.
    """
    coarse, fine, u, v = outputs
    zero = sum(o.sum() for o in outputs) * 0.0
    if len(roi_boxes) == 0 or len(points) == 0:
        return {k: zero for k in ("loss_densepose_I", "loss_densepose_U", "loss_densepose_V", "loss_densepose_S")}
    size = fine.shape[-1]
    r = points[:, 0].long()
    gt = gt_boxes[r]
    roi = roi_boxes[r]
    img_x = gt[:, 0] + points[:, 1] / 256.0 * (gt[:, 2] - gt[:, 0])
    img_y = gt[:, 1] + points[:, 2] / 256.0 * (gt[:, 3] - gt[:, 1])
    gx = (img_x - roi[:, 0]) / (roi[:, 2] - roi[:, 0]).clamp(min=1e-6) * size
    gy = (img_y - roi[:, 1]) / (roi[:, 3] - roi[:, 1]).clamp(min=1e-6) * size
    inside = (gx >= 0) & (gx < size) & (gy >= 0) & (gy < size)
    part = points[:, 3].long()
    fg = inside & (part > 0)
    losses = {}
    if inside.any():
        logits = sample_bilinear(fine, r[inside], gx[inside], gy[inside])
        losses["loss_densepose_I"] = F.cross_entropy(logits, part[inside]) * cfg.part_weights
    else:
        losses["loss_densepose_I"] = zero
    if fg.any():
        idx = part[fg]
        u_est = sample_bilinear(u, r[fg], gx[fg], gy[fg]).gather(1, idx[:, None]).squeeze(1)
        v_est = sample_bilinear(v, r[fg], gx[fg], gy[fg]).gather(1, idx[:, None]).squeeze(1)
        losses["loss_densepose_U"] = F.smooth_l1_loss(u_est, points[fg, 4], reduction="sum", beta=1.0) \
            * cfg.point_regression_weights
        losses["loss_densepose_V"] = F.smooth_l1_loss(v_est, points[fg, 5], reduction="sum", beta=1.0) \
            * cfg.point_regression_weights
    else:
        losses["loss_densepose_U"] = losses["loss_densepose_V"] = zero
    with torch.no_grad():
        target = resample_masks(masks, gt_boxes, roi_boxes, coarse.shape[-1])
    losses["loss_densepose_S"] = F.cross_entropy(coarse, target) * cfg.index_weights
    return losses
