"""`multineus wild` on a real photo (scikit-image's astronaut): face landmarks (dlib), the crop, the GrabCut head
mask, the refined camera and the photo measures, each against an independent computation; then the one command
end to end on the tiny run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from multi_neus.data.scene import Scene
from multi_neus.photo import masked_psnr, prepare_photo, project, refined_camera, silhouette_iou
from multi_neus.wild import DLIB_INDICES, crop_and_resize, detect_face, detect_landmarks, face_crop_box
from shared_utils.cameras import look_at
from shared_utils.errors import InputError
from shared_utils.io import load_json, read_image, write_image

pytest.importorskip("dlib", reason="dlib is not installed (pip install 'multi-neus[wild]')")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the photo")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def face(astronaut) -> np.ndarray:
    return detect_face(astronaut)


# --- landmarks -----------------------------------------------------------------------------------------------------

def test_dlib_finds_the_class_landmarks_on_a_real_photo(astronaut):
    points = detect_landmarks(astronaut)
    assert points.shape == (8, 2) and np.isfinite(points).all()
    named = dict(zip(("r_out", "r_in", "l_in", "l_out", "nose", "mouth_r", "mouth_l", "chin"), points, strict=True))
    # the subject's right side is on the image's left; eyes above nose above mouth above chin
    assert named["r_out"][0] < named["r_in"][0] < named["l_in"][0] < named["l_out"][0]
    assert named["mouth_r"][0] < named["nose"][0] < named["mouth_l"][0]
    eye_y = points[:4, 1].mean()
    assert eye_y < named["nose"][1] < min(named["mouth_r"][1], named["mouth_l"][1]) < named["chin"][1]
    # the astronaut's face lies in this box of the 512 x 512 photo
    assert (points[:, 0] > 150).all() and (points[:, 0] < 300).all()
    assert (points[:, 1] > 60).all() and (points[:, 1] < 220).all()


def test_a_photo_without_a_face_is_one_clear_error():
    with pytest.raises(InputError, match="no face"):
        detect_face(np.zeros((64, 64, 3), np.float32))


# --- crop ----------------------------------------------------------------------------------------------------------

def test_crop_is_a_slice_then_a_resize_and_repeats_edges_outside_the_photo():
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3)).astype(np.float32)
    inside = crop_and_resize(image, (5, 10, 20, 20), (20, 20))
    assert np.array_equal(inside, image[5:25, 10:30])
    outside = crop_and_resize(image, (-3, 45, 6, 8), (6, 8))
    assert np.array_equal(outside[:3, :5], np.broadcast_to(image[0, 45:50], (3, 5, 3)))  # top rows repeat row 0
    assert np.array_equal(outside[3:, 5:], np.broadcast_to(image[:3, 49:50], (3, 3, 3)))  # right columns repeat col 49


def test_crop_box_holds_the_face_with_its_margin(face, astronaut):
    top, left, height, width = face_crop_box(face, astronaut.shape[:2], aspect=1.0, margin=2.2)
    assert height == width
    assert (face[:, 0] > left).all() and (face[:, 0] < left + width).all()
    assert (face[:, 1] > top).all() and (face[:, 1] < top + height).all()
    face_height = (face[8, 1] - face[17:27, 1].min()) * 1.5
    assert height == pytest.approx(2.2 * face_height, abs=1)


# --- mask ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prepared(astronaut):
    return prepare_photo(astronaut, (128, 128), 2.2, seed=0)


def test_head_mask_holds_the_face_and_leaves_out_the_suit(prepared):
    mask = prepared.mask
    hull = np.zeros_like(mask, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(prepared.face[:27]).astype(np.int32)), 1)
    assert mask[hull > 0].mean() > 0.97  # the face itself
    chin_row = int(prepared.face[8, 1])
    assert mask[chin_row + 20:].sum() == 0  # the space suit below the chin
    assert 0.1 < mask.mean() < 0.5
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_preparation_is_a_function_of_the_seed(astronaut, prepared):
    again = prepare_photo(astronaut, (128, 128), 2.2, seed=0)
    assert np.array_equal(again.mask, prepared.mask) and np.array_equal(again.landmarks, prepared.landmarks)
    assert np.allclose(prepared.landmarks, prepared.face[list(DLIB_INDICES)])


# --- camera and measures ---------------------------------------------------------------------------------------------

def _scene() -> Scene:
    c2w = look_at(torch.tensor([0.3, -2.5, 0.4], dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                  torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)).numpy()
    k = np.array([[80.0, 0, 32], [0, 82.0, 32], [0, 0, 1]])
    scale = np.diag([0.1, 0.1, 0.1, 1.0])
    scale[:3, 3] = [0.0, 0.01, 1.6]
    world_c2w = c2w.copy()
    world_c2w[:3, 3] = scale[:3, :3] @ c2w[:3, 3] + scale[:3, 3]
    return Scene("photo", np.zeros((1, 64, 64, 3), np.float32), np.zeros((1, 64, 64), np.float32), k[None],
                 world_c2w[None], scale)


def test_projection_matches_opencv():
    scene = _scene()
    points = np.random.default_rng(1).normal(size=(8, 3)) * 0.05 + scene.scale_mat[:3, 3]
    k, c2w = refined_camera(scene, None)
    world_to_camera = np.linalg.inv(scene.c2w[0])  # world units: the same pixels, the projection is scale-free
    rvec, _ = cv2.Rodrigues(world_to_camera[:3, :3])
    expected, _ = cv2.projectPoints(points, rvec, world_to_camera[:3, 3], k, None)
    assert np.allclose(project(points, k, c2w, scene.scale_mat), expected[:, 0], atol=1e-6)


def test_refined_camera_applies_the_fitted_corrections():
    scene = _scene()
    k0, c2w0 = refined_camera(scene, None)
    assert np.allclose(c2w0, scene.normalized_c2w()[0]) and np.allclose(k0, scene.intrinsics[0])
    shift = torch.zeros(1, 6, dtype=torch.float64)
    shift[0, 0] = 0.2  # translation part (rho) of the twist: along the camera frame x
    focal = torch.tensor([[np.log(1.1), np.log(0.9)]])
    k1, c2w1 = refined_camera(scene, (shift, focal))
    assert np.allclose(k1[0, 0], 1.1 * k0[0, 0]) and np.allclose(k1[1, 1], 0.9 * k0[1, 1])
    assert np.allclose(c2w1[:3, 3], c2w0[:3, 3] + 0.2 * c2w0[:3, 0])  # moved along the camera's own x axis


def test_silhouette_iou_and_masked_psnr_values():
    opacity = np.zeros((4, 4))
    opacity[:2] = 1.0
    mask = np.zeros((4, 4))
    mask[1:3] = 1.0
    assert silhouette_iou(opacity, mask) == pytest.approx(4 / 12)
    image = np.full((4, 4, 3), 0.5, np.float32)
    render = image.copy()
    render[1:3] += 0.1  # error 0.1 on every pixel inside the mask, none outside it counts
    render[0] = 1.0
    assert masked_psnr(render, image, mask) == pytest.approx(20.0, abs=1e-4)


# --- the command -----------------------------------------------------------------------------------------------------

def test_wild_command_end_to_end_on_the_tiny_run(tiny_run, astronaut, tmp_path):
    from multi_neus.cli import main

    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    out = tmp_path / "wild"
    assert main(["wild", "--run-dir", str(tiny_run), "--image", str(photo), "--output-dir", str(out)]) == 0
    metrics = load_json(out / "metrics.json")
    for key in ("landmark_reprojection_error_px", "silhouette_iou", "masked_psnr_db"):
        assert np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["silhouette_iou"] <= 1.0
    assert metrics["provenance"]["steps"] == {"stage1": 2, "stage2": 2}
    for name in ("inputs/crop.png", "inputs/mask.png", "inputs/landmarks.json", "pictures/head.ply",
                 "pictures/summary.png", "pictures/turntable.mp4", "results.md", "report.html"):
        assert (out / name).is_file(), name
    size = tuple(load_json(tiny_run / "meta" / "extras.json")["image_size"])
    assert read_image(out / "inputs" / "crop.png").shape[:2] == size
