"""Geodesic point similarity and DensePose AP on the synthetic body."""

import numpy as np
import pytest
from mobile_parsing_rcnn.data import body
from mobile_parsing_rcnn.evaluation.metrics import densepose_ap, geodesic_point_similarity, paste_box_map, paste_mask


def test_gps_of_a_perfect_prediction_is_one():
    rng = np.random.default_rng(0)
    part = rng.integers(1, 25, 300)
    u, v = rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    dist = body.geodesic_distance(part, u, v, part, u, v)
    assert np.all(dist == 0)
    assert geodesic_point_similarity(dist) == 1.0


def test_gps_falls_with_geodesic_error():
    values = [geodesic_point_similarity(np.full(10, d)) for d in (0.0, 0.05, 0.1, 0.3, 0.6)]
    assert values[0] == 1.0 and all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[3] == pytest.approx(np.exp(-0.09 / (2 * 0.255**2)))
    assert geodesic_point_similarity(np.array([np.inf, 0.0])) == 0.5  # background predictions count as 0


def test_geodesics_are_metric_and_longer_than_euclidean():
    rng = np.random.default_rng(1)
    part = rng.integers(1, 25, 400)
    u, v = rng.uniform(0.05, 0.95, 400), rng.uniform(0.05, 0.95, 400)
    a, b = slice(0, 200), slice(200, 400)
    d = body.geodesic_distance(part[a], u[a], v[a], part[b], u[b], v[b])
    d_rev = body.geodesic_distance(part[b], u[b], v[b], part[a], u[a], v[a])
    assert np.allclose(d, d_rev) and np.all(np.isfinite(d))
    # grid-vertex geodesics are at least the straight-line distance between those vertices
    va = body.chart_to_vertex(part[a], u[a], v[a])
    vb = body.chart_to_vertex(part[b], u[b], v[b])
    verts = body._vertex_grid().reshape(-1, 3)
    assert np.all(d >= np.linalg.norm(verts[va] - verts[vb], axis=1) - 1e-5)
    # hand to the other hand is far; neighbouring points on the torso are near
    assert body.geodesic_distance([3], [0.5], [0.5], [4], [0.5], [0.5])[0] > 1.0
    assert body.geodesic_distance([2], [0.5], [0.5], [2], [0.5], [0.55])[0] < 0.1
    assert np.isinf(body.geodesic_distance([0], [0.5], [0.5], [2], [0.5], [0.5])[0])


def _toy_gt(rng):
    anns = []
    for k in range(3):
        part = rng.integers(1, 25, 50)
        mask = np.zeros((256, 256), np.uint8)
        mask[40:200, 60:190] = 1
        from pycocotools import mask as mask_utils

        rle = mask_utils.encode(np.asfortranarray(mask))
        dp_masks = [{"size": rle["size"], "counts": rle["counts"].decode()}] + [[]] * 13
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 2000.0,
                     "bbox": [10.0 + 60 * k, 20.0, 50.0, 90.0], "dp_x": rng.uniform(70, 180, 50).tolist(),
                     "dp_y": rng.uniform(50, 190, 50).tolist(), "dp_I": part.astype(float).tolist(),
                     "dp_U": rng.uniform(0, 1, 50).tolist(), "dp_V": rng.uniform(0, 1, 50).tolist(),
                     "dp_masks": dp_masks})
    return {"images": [{"id": 1, "file_name": "a.png", "height": 160, "width": 220}], "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}


def _detections_from_gt(gt, noise, rng):
    """Detections on the annotated boxes whose IUV maps (one cell per box pixel) hold the annotated points, at the
    pixel where the official evaluation reads them (x + dp_x / 255 * w, truncated), U and V on the 8-bit grid."""
    dets = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        iuv = np.zeros((3, int(h), int(w)), np.float32)
        cols = (np.asarray(a["dp_x"]) * w / 255).astype(int)
        rows = (np.asarray(a["dp_y"]) * h / 255).astype(int)
        iuv[0, 10:50, 15:48] = 1
        iuv[0, rows, cols] = a["dp_I"]
        for channel, key in ((1, "dp_U"), (2, "dp_V")):
            values = np.clip(np.asarray(a[key]) + rng.normal(0, noise, len(rows)), 0, 1)
            iuv[channel, rows, cols] = (np.floor(values * 255) + 0.5) / 255
        dets.append({"image_id": 1, "category_id": 1, "bbox": a["bbox"], "score": 0.9, "iuv": iuv})
    return dets


def test_densepose_ap_is_perfect_for_exact_predictions_and_drops_with_noise():
    rng = np.random.default_rng(0)
    gt = _toy_gt(rng)
    for a in gt["annotations"]:  # one annotated point per box pixel and U, V on the 8-bit grid: maps can be exact
        x, y, w, h = a["bbox"]
        cells = {}
        for i, (px, py) in enumerate(zip(a["dp_x"], a["dp_y"], strict=True)):
            cells.setdefault((int(px * w / 255), int(py * h / 255)), i)
        keep = sorted(cells.values())
        for key in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V"):
            a[key] = [a[key][i] for i in keep]
        for key in ("dp_U", "dp_V"):
            a[key] = (np.floor(np.asarray(a[key]) * 255) / 255).tolist()
    exact = densepose_ap(gt, _detections_from_gt(gt, 0.0, rng), body.geodesic_distance)
    assert exact["gps"] == pytest.approx(1.0)
    noisy = densepose_ap(gt, _detections_from_gt(gt, 0.3, rng), body.geodesic_distance)
    assert noisy["gps"] < 0.9 and noisy["gpsm"] <= exact["gpsm"] + 1e-9


def test_paste_box_map_places_each_cell_on_its_pixels():
    values = np.arange(8, dtype=np.float32).reshape(2, 2, 2)  # two channels of a 2 x 2 grid
    pasted = paste_box_map(values, [1, 1, 4, 4], (6, 6))
    expected = np.zeros((2, 6, 6), np.float32)
    expected[:, 1:3, 1:3], expected[:, 1:3, 3:5] = values[:, :1, :1], values[:, :1, 1:]
    expected[:, 3:5, 1:3], expected[:, 3:5, 3:5] = values[:, 1:, :1], values[:, 1:, 1:]
    assert np.array_equal(pasted, expected)
    assert np.array_equal(paste_mask(values[1] > 4, [1, 1, 4, 4], (6, 6)), (expected[1] > 4).astype(np.uint8))
    assert not paste_box_map(values, [10, 10, 3, 3], (6, 6)).any()  # a box outside the image pastes nothing
