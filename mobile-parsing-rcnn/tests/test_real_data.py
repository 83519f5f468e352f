"""Real data: DensePose's demo annotation (one person of a real photo, official fields) read, scored, and ``mprcnn
predict`` on real photos (the DensePose demo photo and scikit-image's astronaut)."""

import json
import pathlib
import pickle

import numpy as np
import pytest
from mobile_parsing_rcnn.cli import main
from mobile_parsing_rcnn.data import body
from mobile_parsing_rcnn.data.densepose_coco import load_records, read_densepose_demo
from mobile_parsing_rcnn.evaluation.metrics import densepose_ap, dp_points_in_image
from shared_utils.io import read_image, write_image

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "densepose"
ANNOTATION, PHOTO = SHARED / "demo_dp_single_ann.pkl", SHARED / "demo_im.jpg"
needs_demo = pytest.mark.skipif(not (ANNOTATION.is_file() and PHOTO.is_file()),
                                reason=f"DensePose demo data not found in {SHARED} (see ../shared/data/README.md)")


def raw_annotation() -> dict:
    with open(ANNOTATION, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


@needs_demo
def test_the_demo_annotation_loads_with_its_points(tmp_path):
    raw = raw_annotation()
    image, coco = read_densepose_demo(ANNOTATION)
    assert image.shape == raw["ICrop"].shape and np.allclose(image * 255, raw["ICrop"])
    ann = coco["annotations"][0]
    # the evaluation places every point exactly where the demo annotated it
    x, y = dp_points_in_image(ann)
    assert np.allclose(x, raw["x"]) and np.allclose(y, raw["y"])
    # the training loader keeps every point with its I, U, V, on the box grid of 256 cells (detectron2's training
    # convention, dp / 256 * size: within a pixel of the annotated spot)
    write_image(tmp_path / coco["images"][0]["file_name"], image)
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    person = load_records(tmp_path / "ann.json", tmp_path)[0].people[0]
    assert len(person.points) == len(raw["I"]) == 125
    assert np.array_equal(person.points[:, 2], raw["I"].astype(np.float32))
    assert np.allclose(person.points[:, 3], raw["U"]) and np.allclose(person.points[:, 4], raw["V"])
    width, height = image.shape[1], image.shape[0]
    assert np.abs(person.points[:, 0] / 256 * width - raw["x"]).max() < 1.5
    assert np.abs(person.points[:, 1] / 256 * height - raw["y"]).max() < 1.5
    assert set(np.unique(raw["I"]).astype(int)) <= set(range(1, 25))


def painted_detection(ann: dict, height: int, width: int, parts_map=None) -> dict:
    """A detection over the annotated box that predicts, at each annotated pixel, the annotated I, U, V."""
    iuv = np.zeros((3, height, width), np.float32)
    x, y = dp_points_in_image(ann)
    cols, rows = x.astype(int), y.astype(int)
    parts = np.asarray(ann["dp_I"]).astype(int)
    iuv[0, rows, cols] = parts if parts_map is None else parts_map[parts]
    iuv[1, rows, cols] = (np.floor(np.asarray(ann["dp_U"]) * 255) + 0.5) / 255
    iuv[2, rows, cols] = (np.floor(np.asarray(ann["dp_V"]) * 255) + 0.5) / 255
    return {"image_id": 1, "category_id": 1, "bbox": ann["bbox"], "score": 0.99, "iuv": iuv}


@needs_demo
def test_the_evaluator_scores_predictions_against_the_real_annotation():
    image, coco = read_densepose_demo(ANNOTATION)
    ann = coco["annotations"][0]
    height, width = image.shape[:2]
    # SMPL's geodesic files are not redistributable: the synthetic body, which has DensePose's 24 charts, stands in
    right = densepose_ap(coco, [painted_detection(ann, height, width)], body.geodesic_distance)
    assert right["gps"] == pytest.approx(1.0)
    mirrored = densepose_ap(coco, [painted_detection(ann, height, width, body.FLIP_PART)], body.geodesic_distance)
    assert mirrored["gps"] < 0.5


@needs_demo
def test_predict_on_real_photos_writes_labelled_pictures_at_input_size(tiny_run, tmp_path, capsys):
    from skimage import data as skdata

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / PHOTO.name).write_bytes(PHOTO.read_bytes())
    write_image(photos / "astronaut.png", skdata.astronaut().astype(np.float32) / 255)
    out = tmp_path / "out"
    assert main(["predict", "--run-dir", str(tiny_run), "--input", str(photos), "--output-dir", str(out)]) == 0
    for stem, source in (("demo_im", PHOTO), ("astronaut", photos / "astronaut.png")):
        height, width = read_image(source).shape[:2]
        for kind, panels in (("iuv", 1), ("contours", 2)):
            picture = read_image(out / f"{stem}_{kind}.png")
            # image panels at the photo's own size, plus a title band above and a legend or colour bar beside
            assert abs(picture.shape[0] - (height + 35)) <= 1, (stem, kind, picture.shape)
            assert picture.shape[1] > panels * width
    results = json.loads((out / "densepose_results.json").read_text())
    assert {r["file"] for r in results} <= {"demo_im", "astronaut"}
