"""DensePose AP follows the official DensePose-COCO evaluation: per-part kappa, "ignore" people without DensePose
points, per-image ignore regions and points at dp_x / 255 of the box. Each case is built so that the rule changes AP."""

import numpy as np
import pytest
from mobile_parsing_rcnn.evaluation.metrics import PER_PART_KAPPA, densepose_ap
from pycocotools import mask as mask_utils

FULL_BOX_MASK = mask_utils.encode(np.asfortranarray(np.ones((256, 256), np.uint8)))
DP_MASKS = [{"size": FULL_BOX_MASK["size"], "counts": FULL_BOX_MASK["counts"].decode()}] + [[]] * 13


def constant_geodesic(distance):
    """Every predicted body point lies ``distance`` from its annotated point; background is infinitely far."""

    def geodesic(part_a, u_a, v_a, part_b, u_b, v_b):
        out = np.full(len(part_a), float(distance))
        out[np.asarray(part_b) == 0] = np.inf
        return out

    return geodesic


def person(ann_id, bbox, part=1, points=30, densepose=True):
    ann = {"id": ann_id, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": bbox[2] * bbox[3], "bbox": bbox}
    if densepose:
        rng = np.random.default_rng(ann_id)
        ann.update({"dp_x": rng.uniform(20, 230, points).tolist(), "dp_y": rng.uniform(20, 230, points).tolist(),
                    "dp_I": [float(part)] * points, "dp_U": rng.uniform(0, 1, points).tolist(),
                    "dp_V": rng.uniform(0, 1, points).tolist(), "dp_masks": DP_MASKS})
    return ann


def image_gt(annotations, **image_fields):
    return {"images": [{"id": 1, "file_name": "a.png", "height": 240, "width": 320, **image_fields}],
            "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}


def detection(bbox, score, part=1):
    return {"image_id": 1, "category_id": 1, "bbox": bbox, "score": score,
            "iuv": np.stack([np.full((32, 32), float(part)), np.full((32, 32), 0.5), np.full((32, 32), 0.5)])}


def test_official_per_part_kappa_is_the_default_and_the_constant_an_option():
    assert PER_PART_KAPPA[[1, 2, 3, 4, 5, 7, 11, 15, 19, 23, 24]] == pytest.approx(
        [0.351, 0.351, 0.107, 0.107, 0.126, 0.237, 0.173, 0.142, 0.128, 0.150, 0.150])
    gt = image_gt([person(1, [20.0, 20.0, 100.0, 150.0], part=3)])  # a hand
    dets = [detection([20.0, 20.0, 100.0, 150.0], 0.9, part=3)]
    # every point 0.1 m off: GPS = exp(-0.01 / (2 kappa^2)) is 0.646 with the hand's kappa, 0.926 with 0.255;
    # a match counts at the thresholds 0.5, 0.55, ... 0.95 below it: 3 of 10 and 9 of 10
    assert densepose_ap(gt, dets, constant_geodesic(0.1))["gps"] == pytest.approx(0.3)
    assert densepose_ap(gt, dets, constant_geodesic(0.1), kappa=0.255)["gps"] == pytest.approx(0.9)


def test_people_without_densepose_points_are_ignore_not_absent():
    annotated, unannotated = [20.0, 20.0, 100.0, 150.0], [180.0, 30.0, 80.0, 140.0]
    gt = image_gt([person(1, annotated), person(2, unannotated, densepose=False)])
    on_annotated = detection(annotated, 0.8)
    # a higher-scored detection on the unannotated person: not a false positive, neither exactly on its box
    # (IoU 1) nor a little off it (IoU 0.85 >= 0.8)
    for box in (unannotated, [180.0, 30.0, 80.0, 119.0]):
        ap = densepose_ap(gt, [on_annotated, detection(box, 0.9)], constant_geodesic(0.0))
        assert ap["gps"] == pytest.approx(1.0)
    # one that overlaps it with IoU 0.5 is a false positive ranked first
    half = densepose_ap(gt, [on_annotated, detection([220.0, 30.0, 80.0, 140.0], 0.9)], constant_geodesic(0.0))
    assert half["gps"] == pytest.approx(0.5, abs=0.01)


def test_ignore_regions_remove_people_and_detections_inside_them():
    region_x, region_y = [150.0, 310.0, 310.0, 150.0], [10.0, 10.0, 230.0, 230.0]
    gt = image_gt([person(1, [20.0, 20.0, 100.0, 150.0]), person(2, [170.0, 30.0, 100.0, 150.0])],
                  ignore_regions_x=[region_x], ignore_regions_y=[region_y])
    dets = [detection([20.0, 20.0, 100.0, 150.0], 0.8), detection([200.0, 60.0, 60.0, 100.0], 0.9)]
    # person 2 lies inside the region (not a miss), the detection at (200, 60) too (not a false positive)
    assert densepose_ap(gt, dets, constant_geodesic(0.0))["gps"] == pytest.approx(1.0)
    without_region = image_gt(gt["annotations"])
    assert densepose_ap(without_region, dets, constant_geodesic(0.0))["gps"] < 0.7


def test_annotated_points_sit_at_dp_x_over_255_of_the_box():
    ann = person(1, [0.0, 0.0, 255.0, 255.0], points=1)
    ann.update(dp_x=[200.0], dp_y=[100.0])
    gt = image_gt([ann], height=300, width=300)
    # the detection predicts the body only in image column 200, where 200 / 255 * 255 puts the point
    # (200 / 256 * 255 = 199.2 would read column 199: background)
    iuv = np.zeros((3, 255, 255))
    iuv[:, :, 200] = [[1.0], [0.5], [0.5]]
    det = {"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 255.0, 255.0], "score": 0.9, "iuv": iuv}
    assert densepose_ap(gt, [det], constant_geodesic(0.0))["gps"] == pytest.approx(1.0)


def test_points_by_part_counts_where_each_part_s_points_go():
    from mobile_parsing_rcnn.evaluation.metrics import points_by_part

    hand = person(1, [0.0, 0.0, 255.0, 255.0], part=3, points=4)
    hand.update(dp_x=[10.0, 10.0, 200.0, 200.0], dp_y=[10.0, 200.0, 10.0, 200.0])
    gt = image_gt([hand, person(2, [300.0, 200.0, 10.0, 10.0], part=1)], height=300, width=320)
    iuv = np.zeros((3, 255, 255))
    iuv[0, :, :100] = 3  # the two left points on the right part, the right two on background
    iuv[0, 5:15, 195:205] = 4  # one of those on the other hand
    det = {"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 255.0, 255.0], "score": 0.9, "iuv": iuv}
    table = points_by_part(gt, [det])
    assert table["hand"] == {"points": 4, "body %": 75.0, "right part %": 50.0}
    assert table["people found %"] == 50.0 and table["torso"]["points"] == 0
