"""Mobile Parsing R-CNN assembled from torchvision detection parts: backbone + neck, RPN on P2-P6, box RoI head on
P2-P5 and a DensePose RoI head (pooling from the levels in ``densepose_head.in_features``, P2 only in the thesis).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from ..config import LossConfig, ModelConfig
from ..losses import densepose_losses
from .backbone import build_backbone
from .heads import BoxPredictor, ConvFCBoxHead, DensePosePredictor, DensePoseV1ConvXHead, ParsingHead
from .necks import LEVEL_NAMES, BackboneWithNeck

DENSEPOSE_KEYS = ("dp_coarse", "dp_fine", "dp_u", "dp_v")


def _pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of matched box pairs (N, 4) xyxy."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    return inter / (area_a + area_b - inter).clamp(min=1e-6)


class DensePoseRoIHeads(RoIHeads):
    """torchvision RoIHeads (box branch) extended with a DensePose branch and its losses."""

    def __init__(self, densepose_pooler, densepose_head, densepose_predictor, densepose_fg_iou: float,
                 densepose_max_rois: int, loss_cfg: LossConfig, **box_kwargs):
        super().__init__(**box_kwargs)
        self.densepose_pooler = densepose_pooler
        self.densepose_head = densepose_head
        self.densepose_predictor = densepose_predictor
        self.densepose_fg_iou = densepose_fg_iou
        self.densepose_max_rois = densepose_max_rois
        self.loss_cfg = loss_cfg

    def densepose_forward(self, features, boxes: list[torch.Tensor], image_shapes):
        pooled = self.densepose_pooler(features, boxes, image_shapes)
        return self.densepose_predictor(self.densepose_head(pooled))

    def _densepose_training_rois(self, proposals, matched_idxs, labels, targets):
        """Positive proposals overlapping their annotated person by >= FG_IOU_THRESHOLD, with their targets."""
        rois, gt_boxes, masks, points = [], [], [], []
        offset = 0
        for props, midx, labs, tgt in zip(proposals, matched_idxs, labels, targets, strict=False):
            pos = torch.nonzero(labs > 0).squeeze(1)
            if len(pos) == 0 or len(tgt["boxes"]) == 0:
                continue
            g = midx[pos]
            keep = (_pairwise_iou(props[pos], tgt["boxes"][g]) >= self.densepose_fg_iou) & tgt["dp_has"][g]
            pos, g = pos[keep][: self.densepose_max_rois], g[keep][: self.densepose_max_rois]
            if len(pos) == 0:
                continue
            rois.append(props[pos])
            gt_boxes.append(tgt["boxes"][g])
            masks.append(tgt["dp_masks"][g])
            pts = tgt["dp_points"]
            pair_roi, pair_pt = torch.nonzero(g[:, None] == pts[:, 0].long()[None], as_tuple=True)
            points.append(torch.cat([(pair_roi + offset).to(pts.dtype)[:, None], pts[pair_pt, 1:]], dim=1))
            offset += len(pos)
        if not rois:
            device = proposals[0].device
            return (torch.zeros(0, 4, device=device), torch.zeros(0, 4, device=device),
                    torch.zeros(0, 256, 256, dtype=torch.uint8, device=device), torch.zeros(0, 6, device=device), [])
        per_image = [len(r) for r in rois]
        return torch.cat(rois), torch.cat(gt_boxes), torch.cat(masks), torch.cat(points), per_image

    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training:
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        if self.training:
            loss_cls, loss_box = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            losses = {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
            rois, gt_boxes, masks, points, per_image = self._densepose_training_rois(
                proposals, matched_idxs, labels, targets)
            # the head also runs on zero RoIs so that every parameter takes part in each step (DDP)
            roi_list = list(rois.split(per_image)) if per_image else [rois] + [rois[:0]] * (len(proposals) - 1)
            outputs = self.densepose_forward(features, roi_list, image_shapes)
            losses.update(densepose_losses(outputs, rois, gt_boxes, points, masks, self.loss_cfg))
            return [], losses
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        outputs = self.densepose_forward(features, boxes, image_shapes)
        counts = [len(b) for b in boxes]
        result = []
        for i, (b, s, lab) in enumerate(zip(boxes, scores, labels, strict=False)):
            det = {"boxes": b, "scores": s, "labels": lab}
            for key, out in zip(DENSEPOSE_KEYS, outputs, strict=False):
                det[key] = out.split(counts)[i]
            result.append(det)
        return result, {}


class MobileParsingRCNN(nn.Module):
    """Two-stage DensePose detector. ``forward(images, targets=None)``: images are (3, H, W) floats in [0, 1].

    Training returns a dict of losses; inference returns per image ``boxes, scores, labels`` and the DensePose
    outputs ``dp_coarse (N, 15, S, S), dp_fine (N, 25, S, S), dp_u, dp_v`` on each box's S x S grid.
    """

    def __init__(self, cfg: ModelConfig, loss_cfg: LossConfig | None = None):
        super().__init__()
        loss_cfg = loss_cfg or LossConfig()
        self.cfg = cfg
        self.backbone = BackboneWithNeck(build_backbone(cfg.backbone), cfg.neck)
        channels = self.backbone.out_channels
        r = cfg.rpn
        anchors = AnchorGenerator(tuple((s,) for s in r.anchor_sizes), (tuple(r.aspect_ratios),) * len(r.anchor_sizes))
        self.rpn = RegionProposalNetwork(
            anchors, RPNHead(channels, anchors.num_anchors_per_location()[0]), r.fg_iou_thresh, r.bg_iou_thresh,
            r.batch_size_per_image, r.positive_fraction,
            dict(training=r.pre_nms_topk_train, testing=r.pre_nms_topk_test),
            dict(training=r.post_nms_topk_train, testing=r.post_nms_topk_test), r.nms_thresh)
        b, d = cfg.box_head, cfg.densepose_head
        box_head = ConvFCBoxHead(channels, b)
        dp_head = ParsingHead(channels, d) if d.name == "parsing" else DensePoseV1ConvXHead(channels, d)
        self.roi_heads = DensePoseRoIHeads(
            densepose_pooler=MultiScaleRoIAlign(list(d.in_features), d.pooler_resolution, d.pooler_sampling_ratio),
            densepose_head=dp_head,
            densepose_predictor=DensePosePredictor(dp_head.out_channels, d),
            densepose_fg_iou=d.fg_iou_thresh,
            densepose_max_rois=d.max_rois_per_image,
            loss_cfg=loss_cfg,
            box_roi_pool=MultiScaleRoIAlign(LEVEL_NAMES, b.pooler_resolution, b.pooler_sampling_ratio),
            box_head=box_head,
            box_predictor=BoxPredictor(box_head.out_dim),
            fg_iou_thresh=b.fg_iou_thresh, bg_iou_thresh=b.bg_iou_thresh,
            batch_size_per_image=b.batch_size_per_image, positive_fraction=b.positive_fraction,
            bbox_reg_weights=None, score_thresh=b.score_thresh, nms_thresh=b.nms_thresh,
            detections_per_img=b.detections_per_img,
        )
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(3, 1, 1), persistent=False)

    def preprocess(self, images: list[torch.Tensor]) -> ImageList:
        """Normalise with ImageNet statistics and zero-pad into one batch divisible by ``size_divisibility``."""
        sizes = [tuple(img.shape[-2:]) for img in images]
        div = self.cfg.size_divisibility
        h = -(-max(s[0] for s in sizes) // div) * div
        w = -(-max(s[1] for s in sizes) // div) * div
        batch = images[0].new_zeros(len(images), 3, h, w)
        for i, img in enumerate(images):
            batch[i, :, : img.shape[-2], : img.shape[-1]] = (img - self.pixel_mean) / self.pixel_std
        return ImageList(batch, sizes)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        if self.training and targets is None:
            raise ValueError("targets are required in training mode")
        image_list = self.preprocess(images)
        features = self.backbone(image_list.tensors)
        proposals, rpn_losses = self.rpn(image_list, features, targets)
        detections, roi_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        if self.training:
            return {**rpn_losses, **roi_losses}
        return detections


def build_model(cfg: ModelConfig, loss_cfg: LossConfig | None = None) -> MobileParsingRCNN:
    return MobileParsingRCNN(cfg, loss_cfg)


def iuv_from_outputs(coarse: torch.Tensor, fine: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                     foreground: str = "argmax") -> torch.Tensor:
    """Per-pixel (I, U, V) (N, 3, S, S): the fine part where the coarse segmentation is foreground, else 0.

    Foreground is where the coarse argmax is a body part (``argmax``, detectron2) or where the body parts together are
    more probable than background (``probability``); the two differ where a pixel's mass is split among parts.
    """
    if foreground == "argmax":
        fg = coarse.argmax(1) > 0
    elif foreground == "probability":
        fg = coarse.softmax(1)[:, 0] < 0.5
    else:
        raise ValueError(f"foreground must be 'argmax' or 'probability', not {foreground!r}")
    part = fine.argmax(1) * fg
    u_sel = u.gather(1, part[:, None]).squeeze(1).clamp(0, 1)
    v_sel = v.gather(1, part[:, None]).squeeze(1).clamp(0, 1)
    return torch.stack([part.to(u.dtype), u_sel * fg, v_sel * fg], dim=1)

