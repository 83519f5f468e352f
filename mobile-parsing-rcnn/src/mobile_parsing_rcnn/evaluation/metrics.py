"""Box AP and DensePose AP (GPS, GPSm) with pycocotools' matching and precision/recall accumulation.

Geodesic point similarity of a detection d and a person g with annotated points p = 1..P (DensePose, Guler et al.):
``GPS(d, g) = 1/P sum_p exp(-geo(p_g, p_d)^2 / (2 kappa^2))`` where ``p_d`` is the surface point the detection
predicts at the image position of ``p_g`` (background or outside the box -> infinite distance -> 0), kappa = 0.255.
``GPSm = sqrt(GPS * maskIoU)``. AP averages precision over GPS (or GPSm) thresholds 0.5:0.05:0.95, exactly as COCO box
AP over IoU thresholds: pycocotools' COCOeval with its IoU matrix replaced by the GPS matrix.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def geodesic_point_similarity(distances: np.ndarray, kappa: float = 0.255) -> float:
    """Mean of ``exp(-d^2 / (2 kappa^2))`` over points; infinite distances contribute 0; no points -> 0."""
    d = np.asarray(distances, dtype=np.float64)
    if d.size == 0:
        return 0.0
    return float(np.mean(np.exp(-np.square(d) / (2 * kappa**2))))


class _SimilarityEval(COCOeval):
    """COCOeval whose (detections x ground truths) IoU matrix comes from a callback."""

    def __init__(self, coco_gt, coco_dt, similarity):
        super().__init__(coco_gt, coco_dt, iouType="bbox")
        self._similarity = similarity

    def computeIoU(self, imgId, catId):  # noqa: N802 - pycocotools API
        gts = self._gts[imgId, catId]
        dts = self._dts[imgId, catId]
        if not gts or not dts:
            return []
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")
        dts = [dts[i] for i in order[: self.params.maxDets[-1]]]
        return np.array([[self._similarity(d, g) for g in gts] for d in dts])


def _average_precision(coco_eval: COCOeval) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    precision = coco_eval.eval["precision"][:, :, :, 0, -1]  # all thresholds, recalls, classes; area all; max dets
    valid = precision > -1
    return float(precision[valid].mean()) if valid.any() else 0.0


def _coco(gt: dict) -> COCO:
    coco = COCO()
    coco.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _load_results(coco_gt: COCO, detections: list[dict]) -> COCO:
    if not detections:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes([{k: v for k, v in d.items() if k in ("image_id", "category_id", "bbox", "score", "id")}
                                for d in detections])


def box_ap(gt: dict, detections: list[dict]) -> float:
    """COCO box AP (IoU 0.5:0.95, area all, 100 detections) in [0, 1]."""
    coco_gt = _coco(gt)
    coco_dt = _load_results(coco_gt, detections)
    if coco_dt is None:
        return 0.0
    return _average_precision(COCOeval(coco_gt, coco_dt, iouType="bbox"))


def densepose_ap(gt: dict, detections: list[dict], geodesic, kappa: float = 0.255) -> dict[str, float]:
    """DensePose AP with GPS and with GPSm.

    Args:
        gt: DensePose-COCO dict; annotations without ``dp_x`` are ignored.
        detections: dicts with ``image_id, bbox (xywh), score, iuv`` where ``iuv`` is a (3, S, S) array of I, U, V over
            the detection box.
        geodesic: ``geodesic(I_a, U_a, V_a, I_b, U_b, V_b) -> distances`` (infinite where a part is 0).
    """
    gt = dict(gt)
    gt["annotations"] = [dict(a, iscrowd=0) for a in gt["annotations"] if a.get("dp_x")]
    coco_gt = _coco(gt)
    coco_dt = _load_results(coco_gt, detections)
    if coco_dt is None or not gt["annotations"]:
        return {"gps": 0.0, "gpsm": 0.0}
    by_id = {i + 1: d for i, d in enumerate(detections)}  # loadRes numbers results from 1 in input order
    cache_gps: dict[tuple[int, int], float] = {}
    image_sizes = {img["id"]: (img["height"], img["width"]) for img in gt["images"]}

    def gps(dt, g):
        key = (dt["id"], g["id"])
        if key not in cache_gps:
            det = by_id[dt["id"]]
            x, y, w, h = g["bbox"]
            px = x + np.asarray(g["dp_x"]) / 256.0 * w
            py = y + np.asarray(g["dp_y"]) / 256.0 * h
            pred = sample_iuv(det["iuv"], det["bbox"], px, py)
            dist = geodesic(np.asarray(g["dp_I"], dtype=np.int64), np.asarray(g["dp_U"]), np.asarray(g["dp_V"]),
                            pred[0].astype(np.int64), pred[1], pred[2])
            cache_gps[key] = geodesic_point_similarity(dist, kappa)
        return cache_gps[key]

    mask_cache: dict = {}

    def gpsm(dt, g):
        det = by_id[dt["id"]]
        size = image_sizes[g["image_id"]]
        if ("d", dt["id"]) not in mask_cache:
            mask_cache[("d", dt["id"])] = mask_utils.encode(np.asfortranarray(paste_mask(det["iuv"][0] > 0,
                                                                                          det["bbox"], size)))
        if ("g", g["id"]) not in mask_cache:
            from ..datasets.densepose_coco import decode_dp_masks

            mask_cache[("g", g["id"])] = mask_utils.encode(np.asfortranarray(
                paste_mask(decode_dp_masks(g["dp_masks"]) > 0, g["bbox"], size)))
        iou = mask_utils.iou([mask_cache[("d", dt["id"])]], [mask_cache[("g", g["id"])]], [0])[0, 0]
        return float(np.sqrt(gps(dt, g) * iou))

    results = {}
    for name, fn in (("gps", gps), ("gpsm", gpsm)):
        evaluator = _SimilarityEval(coco_gt, coco_dt, fn)
        evaluator.params.maxDets = [20]
        evaluator.params.areaRng = [[0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        results[name] = _average_precision(evaluator)
    return results


def sample_iuv(iuv: np.ndarray, bbox, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(3, P) I, U, V of an IUV map over ``bbox`` (xywh) at image points; outside the box -> part 0."""
    x, y, w, h = bbox
    s_h, s_w = iuv.shape[-2:]
    col = np.floor((xs - x) / max(w, 1e-6) * s_w).astype(np.int64)
    row = np.floor((ys - y) / max(h, 1e-6) * s_h).astype(np.int64)
    inside = (col >= 0) & (col < s_w) & (row >= 0) & (row < s_h)
    out = np.zeros((3, len(xs)), dtype=np.float64)
    out[:, inside] = iuv[:, row[inside], col[inside]]
    return out


def paste_box_map(values: np.ndarray, bbox, size: tuple[int, int]) -> np.ndarray:
    """Nearest-paste maps (..., S_h, S_w) over ``bbox`` (xywh) into images (..., H, W) of ``size``; 0 outside."""
    height, width = size
    x, y, w, h = bbox
    out = np.zeros((*values.shape[:-2], height, width), dtype=values.dtype)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if x1 <= x0 or y1 <= y0:
        return out
    cols = ((np.arange(x0, x1) + 0.5 - x) / max(w, 1e-6) * values.shape[-1]).astype(np.int64)
    rows = ((np.arange(y0, y1) + 0.5 - y) / max(h, 1e-6) * values.shape[-2]).astype(np.int64)
    cols, rows = np.clip(cols, 0, values.shape[-1] - 1), np.clip(rows, 0, values.shape[-2] - 1)
    out[..., y0:y1, x0:x1] = values[..., rows[:, None], cols[None, :]]
    return out


def paste_mask(mask: np.ndarray, bbox, size: tuple[int, int]) -> np.ndarray:
    """Nearest-paste a mask defined over ``bbox`` (xywh) into an image of ``size`` (H, W) -> uint8 (H, W)."""
    return paste_box_map(np.asarray(mask, dtype=np.uint8), bbox, size)
