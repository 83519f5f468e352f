"""Imperfect input: one clear error line or the documented handling."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from mobile_parsing_rcnn.data.densepose_coco import DensePoseDataset, load_records
from mobile_parsing_rcnn.inference import image_to_tensor
from shared_utils.errors import InputError


def _write_json(path, annotations, width=64, height=48):
    data = {"images": [{"id": 1, "file_name": "a.png", "height": height, "width": width}],
            "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    path.write_text(json.dumps(data))
    return path


def _person(**kw):
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 100.0, "bbox": [10.0, 5.0, 20.0, 30.0],
           "dp_x": [10.0, 128.0, 300.0], "dp_y": [10.0, 128.0, 20.0], "dp_I": [1.0, 5.0, 2.0],
           "dp_U": [0.1, 0.5, 0.9], "dp_V": [0.2, 0.5, 0.8], "dp_masks": [[]] * 14}
    ann.update(kw)
    return ann


def test_corrupt_json_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_records(bad, tmp_path)
    bad.write_text(json.dumps({"images": 3}))
    with pytest.raises(InputError, match="lacks the COCO"):
        load_records(bad, tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_records(tmp_path / "missing.json", tmp_path)


def test_points_outside_their_box_are_dropped_and_boxes_clipped(tmp_path):
    path = _write_json(tmp_path / "a.json", [
        _person(),
        _person(id=2, bbox=[50.0, 30.0, 40.0, 40.0]),  # sticks out of the 64 x 48 image
        _person(id=3, bbox=[70.0, 60.0, 10.0, 10.0]),  # entirely outside: dropped
    ])
    records = load_records(path, tmp_path)
    people = records[0].people
    assert len(people) == 2
    assert len(people[0].points) == 2  # dp_x = 300 lies outside the 256 grid of its box
    assert np.allclose(people[1].box, [50, 30, 64, 48])
    # points are re-expressed on the clipped box's grid; the one at x = 70 now lies outside the image: dropped
    x = 50 + people[1].points[:, 0] / 256 * 14
    assert np.allclose(x, 50 + np.array([10.0]) / 256 * 40)


def test_empty_annotations_skip_the_image_for_training(tmp_path):
    path = _write_json(tmp_path / "a.json", [])
    assert load_records(path, tmp_path) == []
    assert len(load_records(path, tmp_path, require_people=False)) == 1


@pytest.mark.parametrize("kind", ["gray", "rgba", "uint16"])
def test_grayscale_rgba_and_16_bit_images_load_as_rgb(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "gray":
        image = rng.integers(0, 255, (48, 64), dtype=np.uint8)
    elif kind == "rgba":
        image = rng.integers(0, 255, (48, 64, 4), dtype=np.uint8)
    else:
        image = rng.integers(0, 65535, (48, 64), dtype=np.uint16)  # 16-bit grayscale PNG
    iio.imwrite(tmp_path / "a.png", image)
    records = load_records(_write_json(tmp_path / "a.json", [_person()]), tmp_path)
    img, target = DensePoseDataset(records, [48], 1000)[0]
    assert img.shape == (3, 48, 64) and float(img.min()) >= 0 and float(img.max()) <= 1
    assert target["boxes"].shape == (1, 4)


def test_nan_image_is_rejected():
    with pytest.raises(InputError, match="NaN"):
        image_to_tensor(np.full((8, 8, 3), np.nan, dtype=np.float32))
    with pytest.raises(InputError, match="expected"):
        image_to_tensor(np.zeros((8, 8), dtype=np.float32))
