"""Our GPS / GPSm AP against detectron2 DensePose's official evaluator on the same predictions and annotations.

Both read the same SMPL evaluation files in the official format (a stand-in body: 24 charts of a few vertices each,
geodesics = straight distances between vertex positions); the official evaluator finds them where it caches its
downloads. Skipped, with the reason, where detectron2 is not installed.
"""

import pickle

import numpy as np
import pytest
import torch
from mobile_parsing_rcnn.detectron2_backend import INSTALL_HINT, detectron2_available
from pycocotools import mask as mask_utils
from scipy.io import savemat

if not detectron2_available():
    pytest.skip(INSTALL_HINT, allow_module_level=True)

from densepose.evaluation.densepose_coco_evaluation import DensePoseCocoEval  # noqa: E402
from densepose.evaluation.evaluator import _evaluate_predictions_on_coco  # noqa: E402
from densepose.structures import DensePoseChartResult, quantize_densepose_chart_result  # noqa: E402
from detectron2.utils.file_io import PathManager  # noqa: E402
from mobile_parsing_rcnn.evaluation.metrics import densepose_ap  # noqa: E402
from mobile_parsing_rcnn.evaluation.smpl_geodesics import SMPLGeodesics, condensed_index  # noqa: E402

SMPL_URL_FOLDER = ("densepose", "data")  # where iopath caches https://dl.fbaipublicfiles.com/densepose/data/*
VERTICES_PER_PART = 30


class _EchoIndex:
    """A ``Pdist_matrix`` whose entry k is k: shows which entry the official reader picks for a pair."""

    def __getitem__(self, k):
        return [k]


def test_pair_order_of_the_geodesic_matrix_is_the_official_one():
    official = DensePoseCocoEval.__new__(DensePoseCocoEval)
    official.Pdist_matrix = _EchoIndex()
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 27554 + 1, 2000), rng.integers(1, 27554 + 1, 2000)
    b[:5] = a[:5]
    official_k = official.getDistancesUV(a, b)
    differ = a != b
    assert np.array_equal(official_k[differ].astype(np.int64), condensed_index(a[differ] - 1, b[differ] - 1))
    assert np.all(official_k[~differ] == 0)


def _write_standin_smpl(folder, rng):
    """Official-format SMPL files of a stand-in body; returns nothing, the files are the interface."""
    parts = np.repeat(np.arange(1, 25), VERTICES_PER_PART)
    u, v = rng.uniform(0, 1, len(parts)), rng.uniform(0, 1, len(parts))
    centres = rng.uniform(0, 2, (25, 3))
    # the distance mesh numbers its vertices in another order than the subdivided mesh (the transform matters)
    order = rng.permutation(len(parts))
    positions = np.empty((len(parts), 3))
    positions[order] = centres[parts] + 0.3 * np.stack([u, v, u * v], axis=1)
    pairs = [np.linalg.norm(positions[high] - positions[low]) for high in range(len(parts)) for low in range(high)]
    folder.mkdir(parents=True, exist_ok=True)
    savemat(folder / "SMPL_subdiv.mat", {"U_subdiv": u, "V_subdiv": v, "Part_ID_subdiv": parts.astype(np.int32)})
    savemat(folder / "SMPL_SUBDIV_TRANSFORM.mat", {"index": (order + 1).astype(np.int32)})
    with open(folder / "Pdist_matrix.pkl", "wb") as handle:
        pickle.dump({"Pdist_matrix": np.asarray(pairs)[:, None]}, handle)


def _dp_masks(rng):
    grid_y, grid_x = np.mgrid[0:256, 0:256]
    cx, cy, rx, ry = rng.uniform(100, 156), rng.uniform(100, 156), rng.uniform(50, 120), rng.uniform(60, 125)
    inside = ((grid_x - cx) / rx) ** 2 + ((grid_y - cy) / ry) ** 2 <= 1
    masks = []
    for coarse in range(1, 15):
        part = inside & (grid_y * 14 // 256 == coarse - 1)
        if part.any():
            rle = mask_utils.encode(np.asfortranarray(part.astype(np.uint8)))
            masks.append({"size": rle["size"], "counts": rle["counts"].decode("ascii")})
        else:
            masks.append([])
    return masks


def _person(rng, ann_id, image_id, width, height, with_densepose=True):
    w, h = rng.uniform(40, 90), rng.uniform(60, 110)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "area": w * h,
           "bbox": [x, y, w, h], "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
    if with_densepose:
        n = int(rng.integers(20, 60))
        ann.update(dp_x=rng.uniform(0, 255, n).tolist(), dp_y=rng.uniform(0, 255, n).tolist(),
                   dp_I=rng.integers(1, 25, n).astype(float).tolist(), dp_U=rng.uniform(0, 1, n).tolist(),
                   dp_V=rng.uniform(0, 1, n).tolist(), dp_masks=_dp_masks(rng))
    return ann


def _prediction(rng, image_id, bbox, gt=None, quality=0.0):
    """A detection over ``bbox``: per-pixel I, U, V (float U, V) at the box's integer size; near ``gt``'s points
    with probability ``quality``."""
    x, y, w, h = bbox
    width, height = int(w), int(h)
    yy, xx = np.mgrid[0:height, 0:width]
    if gt is None:
        body = ((xx - width / 2) / (0.55 * width)) ** 2 + ((yy - height / 2) / (0.55 * height)) ** 2 <= 1
    else:  # the annotated body (its dp_masks on the 256 x 256 box grid) where this box overlaps it
        gx, gy, gw, gh = gt["bbox"]
        grid = sum(mask_utils.decode(m) for m in gt["dp_masks"] if m) > 0
        col = ((xx + x - gx) / gw * 256).astype(int)
        row = ((yy + y - gy) / gh * 256).astype(int)
        inside = (col >= 0) & (row >= 0) & (col < 256) & (row < 256)
        body = np.zeros((height, width), dtype=bool)
        body[inside] = grid[row[inside], col[inside]]
    labels = np.where(body, rng.integers(1, 25, (height, width)), 0)
    uv = rng.uniform(0, 1, (2, height, width))
    if gt is not None:
        gx, gy, gw, gh = gt["bbox"]
        px = (np.asarray(gt["dp_x"]) * gw / 255.0 + gx - x).astype(int)
        py = (np.asarray(gt["dp_y"]) * gh / 255.0 + gy - y).astype(int)
        for k in np.nonzero((px >= 0) & (py >= 0) & (px < width) & (py < height))[0]:
            if rng.random() < quality:
                labels[py[k], px[k]] = gt["dp_I"][k]
                uv[0, py[k], px[k]] = np.clip(gt["dp_U"][k] + rng.normal(0, 0.05), 0, 1)
                uv[1, py[k], px[k]] = np.clip(gt["dp_V"][k] + rng.normal(0, 0.05), 0, 1)
    return {"image_id": image_id, "category_id": 1, "bbox": [float(x), float(y), float(w), float(h)],
            "score": float(rng.uniform(0.05, 1)), "labels": labels, "uv": uv}


def _jitter(rng, bbox, pixels):
    x, y, w, h = bbox
    return [x + rng.uniform(-pixels, pixels), y + rng.uniform(-pixels, pixels), w + rng.uniform(-pixels, pixels),
            h + rng.uniform(-pixels, pixels)]


def _scene(rng):
    width, height = 200, 160
    images, annotations, predictions = [], [], []
    for image_id in range(1, 7):
        image = {"id": image_id, "file_name": f"{image_id}.png", "width": width, "height": height}
        if image_id == 2:  # an ignore region over the top-left corner with a detection inside it
            image.update(ignore_regions_x=[[0, 60, 60, 0]], ignore_regions_y=[[0, 0, 50, 50]])
            predictions.append(_prediction(rng, image_id, [2.0, 3.0, 50.0, 40.0]))
        images.append(image)
        for _ in range(int(rng.integers(1, 4))):
            gt = _person(rng, len(annotations) + 1, image_id, width, height)
            annotations.append(gt)
            predictions.append(_prediction(rng, image_id, _jitter(rng, gt["bbox"], 4), gt, rng.uniform(0.4, 1)))
        if image_id % 3 == 0:  # a person without DensePose points ("ignore") and a detection over it
            gt = _person(rng, len(annotations) + 1, image_id, width, height, with_densepose=False)
            annotations.append(gt)
            predictions.append(_prediction(rng, image_id, _jitter(rng, gt["bbox"], 1)))
        predictions.append(_prediction(rng, image_id, [rng.uniform(0, 100), rng.uniform(0, 60), 60.0, 80.0]))
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return gt, predictions


def _official_ap(gt, predictions):
    from pycocotools.coco import COCO

    coco_gt = COCO()
    coco_gt.dataset = gt
    coco_gt.createIndex()
    results = []
    for p in predictions:
        chart = DensePoseChartResult(labels=torch.as_tensor(p["labels"]), uv=torch.as_tensor(p["uv"]))
        results.append({k: p[k] for k in ("image_id", "category_id", "bbox", "score")}
                       | {"densepose": quantize_densepose_chart_result(chart)})
    # as DensePose's train_net: the evaluator passes a download timeout to the path manager
    PathManager.set_strict_kwargs_checking(False)
    gps, gpsm, _ = _evaluate_predictions_on_coco(coco_gt, results)
    return gps["AP"], gpsm["AP"]


def _our_ap(gt, predictions, folder):
    detections = [{k: p[k] for k in ("image_id", "category_id", "bbox", "score")}
                  | {"iuv": np.concatenate([p["labels"][None].astype(np.float64), p["uv"]])} for p in predictions]
    result = densepose_ap(gt, detections, SMPLGeodesics(folder))
    return 100 * result["gps"], 100 * result["gpsm"]


@pytest.fixture(scope="module")
def smpl_folder(tmp_path_factory):
    """One stand-in body for the module: iopath remembers a URL's cached file for the whole process."""
    cache = tmp_path_factory.mktemp("iopath_cache")
    _write_standin_smpl(cache.joinpath(*SMPL_URL_FOLDER), np.random.default_rng(1234))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FVCORE_CACHE", str(cache))
        yield cache.joinpath(*SMPL_URL_FOLDER)


@pytest.fixture(scope="module")
def both_aps(smpl_folder):
    """Per random scene: ((official GPS AP, official GPSm AP), (ours, ours)) in percent."""
    aps = []
    for seed in range(3):
        gt, predictions = _scene(np.random.default_rng(seed))
        official = _official_ap(gt, predictions)
        assert all(5 < ap < 95 for ap in official), official  # a scene that tells evaluators apart
        aps.append((official, _our_ap(gt, predictions, smpl_folder)))
    return aps


def test_gps_ap_agrees_with_densepose_official_evaluator(both_aps):
    for (official_gps, _), (ours_gps, _) in both_aps:
        assert ours_gps == pytest.approx(official_gps, abs=0.1)


@pytest.mark.xfail(strict=True, reason="GPSm's mask IoU is rasterised differently: the official evaluator places the "
                   "detection's mask at its integer box size at (int x, int y) and zooms the dp_masks bilinearly "
                   "(> 0.5) to the annotated box; ours nearest-pastes both over the float boxes (per pair 1-4 % lower "
                   "IoU here)")
def test_gpsm_ap_agrees_with_densepose_official_evaluator(both_aps):
    for (_, official_gpsm), (_, ours_gpsm) in both_aps:
        assert ours_gpsm == pytest.approx(official_gpsm, abs=0.1)
