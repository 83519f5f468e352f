"""Cameras for a single in-the-wild photo: 2-D landmarks (given or detected) + PnP against the class's 3-D landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from shared_utils.errors import InputError
from shared_utils.io import load_json, read_image

from .config import RendererConfig
from .data.head_family import LANDMARK_NAMES
from .data.scene import Scene

# iBUG-300W (dlib 68-point) indices of LANDMARK_NAMES (subject's right eye outer/inner, left inner/outer, nose
# tip, mouth right/left corner, chin).
DLIB_INDICES = (36, 39, 42, 45, 30, 48, 54, 8)


def solve_pnp(points_3d: np.ndarray, points_2d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """World-to-camera (4, 4) OpenCV pose from >= 4 landmark correspondences (EPnP, then iterative refinement)."""
    points_3d = np.asarray(points_3d, dtype=np.float64)
    points_2d = np.asarray(points_2d, dtype=np.float64)
    if points_3d.shape[0] != points_2d.shape[0] or points_3d.shape[0] < 4:
        raise InputError(
            f"PnP needs at least 4 matching landmarks, got {points_3d.shape[0]} 3-D and {points_2d.shape[0]} 2-D"
        )
    if not (np.isfinite(points_3d).all() and np.isfinite(points_2d).all()):
        raise InputError("PnP landmarks contain NaN or infinite values")
    centred = points_3d - points_3d.mean(0)
    if np.linalg.matrix_rank(centred, tol=1e-6 * max(1e-12, np.abs(centred).max())) < 2:
        raise InputError("PnP is degenerate: the 3-D landmarks are collinear or coincide")
    if np.linalg.matrix_rank(points_2d - points_2d.mean(0), tol=1e-6 * max(1.0, np.abs(points_2d).max())) < 2:
        raise InputError("PnP is degenerate: the 2-D landmarks are collinear or coincide")
    ok, rvec, tvec = cv2.solvePnP(points_3d, points_2d, intrinsics, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(points_3d, points_2d, intrinsics, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise InputError("PnP failed to find a camera pose for the given landmarks")
    w2c = np.eye(4)
    w2c[:3, :3] = cv2.Rodrigues(rvec)[0]
    w2c[:3, 3] = tvec[:, 0]
    depth = (points_3d @ w2c[:3, :3].T + w2c[:3, 3])[:, 2]
    if np.any(depth <= 0):
        raise InputError("PnP is degenerate: the solved camera sees landmarks behind it")
    projected, _ = cv2.projectPoints(points_3d, rvec, tvec, intrinsics, None)
    error = np.linalg.norm(projected[:, 0] - points_2d, axis=-1).mean()
    scale = max(intrinsics[0, 2], intrinsics[1, 2]) * 2
    if error > 0.1 * scale:
        raise InputError(
            f"PnP is degenerate: mean reprojection error {error:.1f} px for an image of about {scale:.0f} px"
        )
    return w2c


def read_landmarks_2d(path: str | Path) -> np.ndarray:
    """2-D landmarks (u, v pixels) from JSON: {"names": [...], "points": [[u, v], ...]} in LANDMARK_NAMES order."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"landmark file '{path}' must hold an object {{\"points\": [[u, v], ...]}}")
    try:
        points = np.asarray(data.get("points", []), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"landmark file '{path}': 'points' must be a list of [u, v] numbers") from error
    if points.shape != (len(LANDMARK_NAMES), 2):
        raise InputError(
            f"landmark file '{path}' must hold {len(LANDMARK_NAMES)} points [u, v], got shape {points.shape}"
        )
    names = data.get("names")
    if names is not None and tuple(names) != LANDMARK_NAMES:
        raise InputError(f"landmark file '{path}' must list the names {list(LANDMARK_NAMES)} in this order")
    return points


DLIB_MODEL = "shape_predictor_68_face_landmarks.dat"


def _dlib_models():
    """dlib and the folder of its face models (PyPI ``dlib-bin`` + ``face-recognition-models``: the 68-point
    iBUG-300W predictor ships inside the package; nothing is downloaded); an InputError saying what to install."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    try:
        import dlib
    except ImportError as error:
        raise InputError("face detection needs dlib: pip install 'multi-neus[wild]' (or pass --landmarks and "
                         "--mask)") from error
    # found, not imported: its __init__ needs pkg_resources, which current setuptools no longer ships
    folder = None if spec is None else Path(next(iter(spec.submodule_search_locations))) / "models"
    if folder is None or not (folder / DLIB_MODEL).is_file():
        raise InputError(f"dlib's landmark model {DLIB_MODEL} is not installed: pip install 'multi-neus[wild]' "
                         "(package face-recognition-models), or pass --landmarks and --mask")
    return dlib, folder


def detect_face(image: np.ndarray) -> np.ndarray:
    """The 68 iBUG-300W landmarks (u, v pixels) of the most confident frontal face in ``image`` (H, W, 3)."""
    dlib, folder = _dlib_models()
    pixels = np.ascontiguousarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    boxes, scores, _ = dlib.get_frontal_face_detector().run(pixels, 1, 0.0)
    if len(boxes) == 0:
        raise InputError("no face was found in the photo")
    best = boxes[int(np.argmax(scores))]
    shape = dlib.shape_predictor(str(folder / DLIB_MODEL))(pixels, best)
    return np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float64)


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """LANDMARK_NAMES pixel positions in ``image``, from dlib's 68-point face landmarks."""
    return detect_face(image)[list(DLIB_INDICES)]


def face_crop_box(face: np.ndarray, image_shape: tuple[int, int], aspect: float, margin: float
                  ) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the crop around a face's 68 landmarks: centred between brows and chin (moved
    up to take in the skull and hair), ``margin`` times the face height tall, ``aspect`` = width / height. It may
    reach past the photo's edges (padded when cropped)."""
    brows_y, chin_y = face[17:27, 1].min(), face[8, 1]
    face_height = max(chin_y - brows_y, 1.0) * 1.5  # brows are about a third of the way down from the hairline
    centre_x = face[:, 0].mean()
    centre_y = (brows_y + chin_y) / 2.0 - 0.2 * face_height
    height = int(round(margin * face_height))
    width = int(round(height * aspect))
    return int(round(centre_y - height / 2.0)), int(round(centre_x - width / 2.0)), height, width


def crop_and_resize(image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """``image`` inside ``box`` (edge pixels repeated where the box leaves the photo), resized to ``size`` (H, W)."""
    top, left, height, width = box
    rows = np.clip(np.arange(top, top + height), 0, image.shape[0] - 1)
    cols = np.clip(np.arange(left, left + width), 0, image.shape[1] - 1)
    cropped = image[rows][:, cols]
    return cv2.resize(cropped, (size[1], size[0]), interpolation=cv2.INTER_AREA).astype(np.float32)


def head_mask(image: np.ndarray, face: np.ndarray, seed: int = 0, iterations: int = 5) -> np.ndarray:
    """(H, W) {0, 1} mask of the head (face, hair, skull) by GrabCut: the face's landmark hull is sure
    foreground, an ellipse around it (head-sized) probable foreground, everything else probable background, the
    image border and everything well below the chin sure background. One connected part, holes filled."""
    from scipy import ndimage

    height, width = image.shape[:2]
    seeds = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
    brows_y, chin_y = face[17:27, 1].min(), face[8, 1]
    face_width = face[16, 0] - face[0, 0]
    centre = (int(round(face[:, 0].mean())), int(round((brows_y + chin_y) / 2.0 - 0.25 * (chin_y - brows_y))))
    axes = (int(round(0.75 * face_width)), int(round(1.05 * (chin_y - brows_y))))
    cv2.ellipse(seeds, centre, axes, 0, 0, 360, int(cv2.GC_PR_FGD), -1)
    hull = cv2.convexHull(np.round(face[:27]).astype(np.int32))
    cv2.fillConvexPoly(seeds, hull, int(cv2.GC_FGD))
    border = max(2, int(0.02 * min(height, width)))
    seeds[:border], seeds[-border:], seeds[:, :border], seeds[:, -border:] = (cv2.GC_BGD,) * 4
    seeds[int(min(height, chin_y + 0.35 * (chin_y - brows_y))):] = cv2.GC_BGD
    cv2.setRNGSeed(seed)  # GrabCut's colour models start from a k-means draw
    pixels = np.ascontiguousarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[..., ::-1])
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(pixels, seeds, None, background, foreground, iterations, cv2.GC_INIT_WITH_MASK)
    mask = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    labels, count = ndimage.label(mask)
    if count == 0:
        raise InputError("the head mask of the photo is empty (GrabCut kept no pixel)")
    inside = labels[int(np.clip(face[30, 1], 0, height - 1)), int(np.clip(face[30, 0], 0, width - 1))]
    keep = inside if inside > 0 else 1 + int(np.argmax(ndimage.sum(mask, labels, range(1, count + 1))))
    return ndimage.binary_fill_holes(labels == keep).astype(np.float32)


def composite(image: np.ndarray, mask: np.ndarray, background: float) -> np.ndarray:
    """The photo's foreground over the renderer's constant background: pixels outside the mask are what the fitted
    scene renders there, so the background of the photo is not explained by inflating the head."""
    alpha = mask[..., None]
    return (image * alpha + background * (1.0 - alpha)).astype(np.float32)


def wild_scene(photo: str | Path, mask: str | Path, reference_landmarks: np.ndarray, mean_intrinsics: np.ndarray,
               reference_size: tuple[int, int], scale_mat: np.ndarray, renderer: RendererConfig,
               landmarks: str | Path | None = None) -> Scene:
    """A one-view Scene for a photo: averaged training intrinsics (rescaled to the photo) and a PnP pose; with a
    constant-colour background model the photo is composited onto that colour with its mask."""
    image = read_image(photo, channels=3)
    mask_image = read_image(mask, channels=1)[..., 0]
    if mask_image.shape != image.shape[:2]:
        raise InputError(f"mask size {mask_image.shape} does not match the photo size {image.shape[:2]}")
    if mask_image.max() <= 0:
        raise InputError(f"mask '{mask}' is empty: it marks no pixel of the photo as the head")
    points_2d = read_landmarks_2d(landmarks) if landmarks is not None else detect_landmarks(image)
    if renderer.background == "constant":
        image = composite(image, mask_image, renderer.background_color)
    height, width = image.shape[:2]
    intrinsics = mean_intrinsics.copy()
    intrinsics[0] *= width / reference_size[1]
    intrinsics[1] *= height / reference_size[0]
    w2c = solve_pnp(reference_landmarks, points_2d, intrinsics)
    return Scene(
        Path(photo).stem, image[None], mask_image[None], intrinsics[None], np.linalg.inv(w2c)[None], scale_mat,
    )
