"""Box AP and DensePose AP (GPS, GPSm) as DensePose-COCO's official evaluation computes them.

Geodesic point similarity of a detection d and a person g with annotated points p = 1..P (DensePose, Guler et al.):
``GPS(d, g) = 1/P sum_p exp(-geo(p_g, p_d)^2 / (2 kappa_p^2))`` where ``p_d`` is the surface point the detection
predicts at the image position of ``p_g`` (background or outside the box -> infinite distance -> 0). The official
evaluator normalises each point by the mean geodesic distance of its coarse body part (``PER_PART_KAPPA``); DensePose's
first definition used one kappa = 0.255 for all points (``kappa=0.255``). ``GPSm = sqrt(GPS * maskIoU)``.
AP averages precision over GPS (or GPSm) thresholds 0.5:0.05:0.95 with at most 20 detections per image.

What follows the official evaluator (detectron2's ``densepose/evaluation/densepose_coco_evaluation.py``):

- annotated points sit at ``box_x + dp_x / 255 * box_w`` (the 256-cell grid's points run from 0 to 255);
- predicted U and V are quantised to 8 bits (``floor(255 u) / 255``) as the evaluator stores them;
- people without DensePose points are kept as "ignore" ground truth: a detection matched to them is neither a true
  nor a false positive; a detection left unmatched at the strictest threshold whose box overlaps such a person's box
  with IoU >= 0.8 is ignored too;
- in an image whose ground-truth people are all "ignore" (or that has none), every detection is ignored;
- per-image ignore regions (``ignore_regions_x``/``ignore_regions_y`` polygons of the image entry) remove people
  whose box lies >= 70 % inside them and detections whose body mask lies >= 90 % inside them.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# Mean geodesic distance (m) of each coarse body part of SMPL: torso, hands, feet, upper legs, lower legs, upper arms,
# lower arms, head; the official evaluator's kappa for a point on that part.
_COARSE_KAPPA = {"torso": 0.351, "hand": 0.107, "foot": 0.126, "upper_leg": 0.237, "lower_leg": 0.173,
                 "upper_arm": 0.142, "lower_arm": 0.128, "head": 0.150}
_FINE_PART_GROUPS = (["torso"] * 2 + ["hand"] * 2 + ["foot"] * 2 + ["upper_leg"] * 4 + ["lower_leg"] * 4
                     + ["upper_arm"] * 4 + ["lower_arm"] * 4 + ["head"] * 2)
# kappa of fine part I (index I, 1..24; index 0 = background, unused)
PER_PART_KAPPA = np.array([np.nan] + [_COARSE_KAPPA[group] for group in _FINE_PART_GROUPS])

MAX_DETECTIONS = 20
IGNORE_BOX_IOU = 0.8
REGION_IGNORES_PERSON = 0.7
REGION_IGNORES_DETECTION = 0.9


def geodesic_point_similarity(distances: np.ndarray, kappa=0.255) -> float:
    """Mean of ``exp(-d^2 / (2 kappa^2))`` over points (``kappa`` a number or one per point); infinite distances
    contribute 0; no points -> 0."""
    d = np.asarray(distances, dtype=np.float64)
    if d.size == 0:
        return 0.0
    return float(np.mean(np.exp(-np.square(d) / (2 * np.square(kappa)))))


def dp_points_in_image(ann: dict) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (x, y) of an annotation's DensePose points, as the official evaluation places them."""
    x, y, w, h = ann["bbox"]
    return x + np.asarray(ann["dp_x"], dtype=np.float64) / 255.0 * w, \
        y + np.asarray(ann["dp_y"], dtype=np.float64) / 255.0 * h


def _coco(gt: dict) -> COCO:
    coco = COCO()
    # pycocotools 2.0.10's loadRes copies "info"; DensePose-COCO files have it, our synthetic ones need not
    coco.dataset = {"info": {}, "licenses": [], **gt}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _load_results(coco_gt: COCO, detections: list[dict]) -> COCO | None:
    if not detections:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes([{k: v for k, v in d.items() if k in ("image_id", "category_id", "bbox", "score")}
                                for d in detections])


def _average_precision(coco_eval: COCOeval) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    precision = coco_eval.eval["precision"][:, :, :, 0, -1]  # all thresholds, recalls, classes; area all; max dets
    valid = precision > -1
    return float(precision[valid].mean()) if valid.any() else 0.0


def box_ap(gt: dict, detections: list[dict]) -> float:
    """COCO box AP (IoU 0.5:0.95, area all, 100 detections) in [0, 1]."""
    coco_gt = _coco(gt)
    coco_dt = _load_results(coco_gt, detections)
    if coco_dt is None:
        return 0.0
    return _average_precision(COCOeval(coco_gt, coco_dt, iouType="bbox"))


def sample_detection_iuv(iuv: np.ndarray, det_bbox, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(3, P) I, U, V that a detection predicts at image points, read as the official evaluator reads them: the point
    goes to the integer pixel ``int(x - box_x)`` of the detection's box resampled to ``int(w) x int(h)``; outside it
    -> part 0. Our map (3, S, S) covers the box; the pixel's centre picks its cell. U and V are quantised to 8 bits.
    """
    x, y, w, h = det_bbox
    width, height = int(w), int(h)
    px = (xs - x).astype(np.int64)  # truncation toward zero, as numpy's astype(int) in the official code
    py = (ys - y).astype(np.int64)
    inside = (px >= 0) & (py >= 0) & (px < width) & (py < height)
    s_h, s_w = iuv.shape[-2:]
    col = np.minimum(((px[inside] + 0.5) / max(width, 1) * s_w).astype(np.int64), s_w - 1)
    row = np.minimum(((py[inside] + 0.5) / max(height, 1) * s_h).astype(np.int64), s_h - 1)
    out = np.zeros((3, len(xs)), dtype=np.float64)
    out[:, inside] = iuv[:, row, col]
    out[1:] = np.floor(np.clip(out[1:], 0, 1) * 255) / 255
    return out


def _ignore_region(image: dict) -> np.ndarray | None:
    xs, ys = image.get("ignore_regions_x"), image.get("ignore_regions_y")
    if not xs:
        return None
    polygons = [[v for pair in zip(rx, ry, strict=True) for v in pair] for rx, ry in zip(xs, ys, strict=True)]
    rles = mask_utils.frPyObjects(polygons, image["height"], image["width"])
    return mask_utils.decode(mask_utils.merge(rles))


def _box_crop(region: np.ndarray, bbox) -> np.ndarray:
    x, y, w, h = (int(v) for v in bbox)
    return region[max(y, 0):max(min(y + h, region.shape[0]), 0), max(x, 0):max(min(x + w, region.shape[1]), 0)]


class _DensePoseEval(COCOeval):
    """COCOeval with the GPS (or GPSm) matrix for IoU and the official evaluator's ignore rules."""

    def __init__(self, coco_gt, coco_dt, gps, mask_iou, use_gpsm: bool, ignore_regions: dict, body_fraction):
        super().__init__(coco_gt, coco_dt, iouType="bbox")
        self.params.maxDets = [MAX_DETECTIONS]
        self.params.areaRng = [[0, 1e10]]
        self.params.areaRngLbl = ["all"]
        self._gps, self._mask_iou, self._use_gpsm = gps, mask_iou, use_gpsm
        self._ignore_regions, self._body_fraction = ignore_regions, body_fraction

    def _prepare(self):
        super()._prepare()
        for key in list(self._gts):
            region = self._ignore_regions.get(key[0])
            people = self._gts[key]
            for g in people:
                g["ignore"] = not g.get("dp_x")
            if region is not None:
                self._gts[key] = [g for g in people
                                  if _box_crop(region, g["bbox"]).sum() / max(g["bbox"][2] * g["bbox"][3], 1e-9)
                                  < REGION_IGNORES_PERSON]
        for key in list(self._dts):
            region = self._ignore_regions.get(key[0])
            # as the official evaluator: regions act on the detections of images that have annotated people
            if region is not None and self._gts.get(key):
                self._dts[key] = [d for d in self._dts[key]
                                  if self._body_fraction(d, region) < REGION_IGNORES_DETECTION]

    def _sorted(self, imgId, catId):  # noqa: N803 - pycocotools naming
        gts = self._gts[imgId, catId]
        dts = self._dts[imgId, catId]
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")
        return gts, [dts[i] for i in order[:MAX_DETECTIONS]]

    def computeIoU(self, imgId, catId):  # noqa: N802, N803 - pycocotools API
        gts, dts = self._sorted(imgId, catId)
        if not gts or not dts:
            return []
        similarity = np.zeros((len(dts), len(gts)))
        for j, g in enumerate(gts):
            if g["ignore"]:
                continue
            for i, d in enumerate(dts):
                value = self._gps(d, g)
                if self._use_gpsm:
                    value = float(np.sqrt(value * self._mask_iou(d, g)))
                similarity[i, j] = value
        box_iou = mask_utils.iou([d["bbox"] for d in dts], [g["bbox"] for g in gts],
                                 [int(g.get("iscrowd", 0)) for g in gts])
        return similarity, np.asarray(box_iou).reshape(len(dts), len(gts))

    def evaluateImg(self, imgId, catId, aRng, maxDet):  # noqa: N802, N803 - pycocotools API
        gts, dts = self._sorted(imgId, catId)
        if not gts and not dts:
            return None
        ignored = np.array([bool(g["ignore"]) for g in gts])
        gt_order = np.argsort(ignored, kind="mergesort")  # ignored people last
        gts = [gts[i] for i in gt_order]
        ignored = ignored[gt_order]
        dts = dts[:maxDet]
        crowd = [int(g.get("iscrowd", 0)) for g in gts]
        thresholds = self.params.iouThrs
        gt_match = np.zeros((len(thresholds), len(gts)))
        dt_match = np.zeros((len(thresholds), len(dts)))
        # an image whose people are all "ignore" (or that has none) ignores every detection
        dt_ignore = np.full((len(thresholds), len(dts)), bool(np.all(ignored)))
        matrices = self.ious[imgId, catId]
        if len(matrices):
            similarity, box_iou = matrices[0][:, gt_order], matrices[1][:, gt_order]
            for t, threshold in enumerate(thresholds):
                for di, d in enumerate(dts):
                    best, match = min(threshold, 1 - 1e-10), -1
                    for gi in range(len(gts)):
                        if gt_match[t, gi] > 0 and not crowd[gi]:
                            continue
                        if match > -1 and not ignored[match] and ignored[gi]:
                            break
                        if similarity[di, gi] < best or similarity[di, gi] == 0.0:
                            continue
                        best, match = similarity[di, gi], gi
                    if match == -1:
                        continue
                    dt_ignore[t, di] = ignored[match]
                    dt_match[t, di] = gts[match]["id"]
                    gt_match[t, match] = d["id"]
            # Detections unmatched at the strictest threshold that sit on a person's box (IoU >= 0.8): they take
            # that person's ignore flag at every threshold, as the official evaluator does.
            last = len(thresholds) - 1
            for di, d in enumerate(dts):
                if dt_match[last, di] != 0:
                    continue
                best, match = IGNORE_BOX_IOU, -1
                for gi in range(len(gts)):
                    if gt_match[last, gi] > 0 and not crowd[gi]:
                        continue
                    if box_iou[di, gi] < best:
                        continue
                    best, match = box_iou[di, gi], gi
                if match > -1:
                    dt_ignore[:, di] = ignored[match]
                    if ignored[match]:
                        dt_match[last, di] = gts[match]["id"]
                        gt_match[last, match] = d["id"]
        return {"image_id": imgId, "category_id": catId, "aRng": aRng, "maxDet": maxDet,
                "dtIds": [d["id"] for d in dts], "gtIds": [g["id"] for g in gts], "dtMatches": dt_match,
                "gtMatches": gt_match, "dtScores": [d["score"] for d in dts], "gtIgnore": ignored,
                "dtIgnore": dt_ignore}


def densepose_ap(gt: dict, detections: list[dict], geodesic, kappa: float | None = None) -> dict[str, float]:
    """DensePose AP with GPS and with GPSm, in [0, 1].

    Args:
        gt: DensePose-COCO dict; person annotations without ``dp_x`` are kept as "ignore".
        detections: dicts with ``image_id, bbox (xywh), score, iuv`` where ``iuv`` is a (3, S, S) array of I, U, V over
            the detection box.
        geodesic: ``geodesic(I_a, U_a, V_a, I_b, U_b, V_b) -> distances`` (infinite where a part is 0).
        kappa: one constant for all points, or None for the official per-part values (``PER_PART_KAPPA``).
    """
    gt = dict(gt)
    gt["annotations"] = [a for a in gt["annotations"] if a.get("category_id", 1) == 1]
    if not any(a.get("dp_x") for a in gt["annotations"]):
        return {"gps": 0.0, "gpsm": 0.0}
    coco_gt = _coco(gt)
    coco_dt = _load_results(coco_gt, detections)
    if coco_dt is None:
        return {"gps": 0.0, "gpsm": 0.0}
    by_id = {i + 1: d for i, d in enumerate(detections)}  # loadRes numbers results from 1 in input order
    image_sizes = {img["id"]: (img["height"], img["width"]) for img in gt["images"]}
    regions = {img["id"]: r for img in gt["images"] if (r := _ignore_region(img)) is not None}
    gps_cache: dict[tuple[int, int], float] = {}
    mask_cache: dict = {}

    def gps(dt, g):
        key = (dt["id"], g["id"])
        if key not in gps_cache:
            xs, ys = dp_points_in_image(g)
            pred = sample_detection_iuv(by_id[dt["id"]]["iuv"], dt["bbox"], xs, ys)
            part = np.asarray(g["dp_I"], dtype=np.int64)
            dist = geodesic(part, np.asarray(g["dp_U"]), np.asarray(g["dp_V"]), pred[0].astype(np.int64), pred[1],
                            pred[2])
            gps_cache[key] = geodesic_point_similarity(dist, PER_PART_KAPPA[part] if kappa is None else kappa)
        return gps_cache[key]

    def detection_mask(dt) -> np.ndarray:
        if ("d", dt["id"]) not in mask_cache:
            mask_cache[("d", dt["id"])] = paste_mask(by_id[dt["id"]]["iuv"][0] > 0, dt["bbox"],
                                                     image_sizes[dt["image_id"]])
        return mask_cache[("d", dt["id"])]

    def mask_iou(dt, g):
        from ..data.densepose_coco import decode_dp_masks

        if ("g", g["id"]) not in mask_cache:
            size = image_sizes[g["image_id"]]
            if g.get("dp_masks"):
                mask = paste_mask(decode_dp_masks(g["dp_masks"]) > 0, g["bbox"], size)
            elif g.get("segmentation"):  # as the official evaluator: the COCO mask when DensePose has none
                mask = coco_gt.annToMask(g)
            else:
                mask = np.zeros(size, dtype=np.uint8)
            mask_cache[("g", g["id"])] = mask_utils.encode(np.asfortranarray(mask))
        detected = mask_utils.encode(np.asfortranarray(detection_mask(dt)))
        return float(mask_utils.iou([detected], [mask_cache[("g", g["id"])]], [0])[0, 0])

    def body_fraction(dt, region) -> float:
        body = detection_mask(dt).astype(bool)
        return float((body & (region > 0)).sum() / max(body.sum(), 1))

    return {name: _average_precision(_DensePoseEval(coco_gt, coco_dt, gps, mask_iou, name == "gpsm", regions,
                                                    body_fraction))
            for name in ("gps", "gpsm")}


def points_by_part(gt: dict, detections: list[dict], min_box_iou: float = 0.5) -> dict:
    """Where the annotated points of each body part go, in %: for every annotated person, the detection that
    overlaps its box most (box IoU >= ``min_box_iou``) is read at the person's points, as the evaluation reads it.

    Per coarse part (``PART_GROUPS``): ``points``, ``body %`` (predicted as any body part), ``right part %`` (the
    annotated fine part). ``people found %``: annotated people with such a detection (their points count, the
    others' do not).
    """
    by_image: dict[int, list[dict]] = {}
    for d in detections:
        by_image.setdefault(d["image_id"], []).append(d)
    counts = {group: np.zeros(3) for group in _COARSE_KAPPA}
    people = found = 0
    for ann in gt["annotations"]:
        if not ann.get("dp_x"):
            continue
        people += 1
        candidates = by_image.get(ann["image_id"], [])
        if not candidates:
            continue
        overlap = np.asarray(mask_utils.iou([d["bbox"] for d in candidates], [ann["bbox"]], [0])).reshape(-1)
        if overlap.max() < min_box_iou:
            continue
        found += 1
        det = candidates[int(np.argmax(overlap))]
        xs, ys = dp_points_in_image(ann)
        pred = sample_detection_iuv(det["iuv"], det["bbox"], xs, ys)[0].astype(np.int64)
        part = np.asarray(ann["dp_I"], dtype=np.int64)
        for group in counts:
            on = np.array([_FINE_PART_GROUPS[p - 1] == group for p in part], dtype=bool)
            counts[group] += [on.sum(), (on & (pred > 0)).sum(), (on & (pred == part)).sum()]
    table = {group: {"points": int(n), "body %": round(100 * body / max(n, 1), 1),
                     "right part %": round(100 * right / max(n, 1), 1)} for group, (n, body, right) in counts.items()}
    return {"people found %": round(100 * found / max(people, 1), 1), **table}


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
