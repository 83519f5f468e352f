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

# MediaPipe face-mesh indices of LANDMARK_NAMES (subject's right eye outer/inner, left inner/outer, nose tip,
# mouth right/left corner, chin).
MEDIAPIPE_INDICES = (33, 133, 362, 263, 1, 61, 291, 152)


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


def _face_mesh_solution():
    """MediaPipe's legacy face mesh, whose model ships inside the wheel; an InputError saying why it cannot run."""
    try:
        import mediapipe as mp
    except Exception as error:  # noqa: BLE001 - a wheel built for numpy 1 fails with AttributeError/ValueError too
        raise InputError(
            "no landmark file was given and MediaPipe cannot be imported "
            f"({type(error).__name__}): pass --landmarks, or install 'multi-neus[landmarks]' in a numpy<2 environment"
        ) from error
    solutions = getattr(mp, "solutions", None)
    if solutions is None:
        raise InputError(
            f"no landmark file was given and MediaPipe {getattr(mp, '__version__', '?')} has no face-mesh solution "
            "(removed in 0.10.30; its Tasks API needs a face_landmarker.task model that is not shipped and is not "
            "downloaded here): pass --landmarks, or use mediapipe==0.10.21 in a numpy<2 environment"
        )
    return solutions.face_mesh


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """LANDMARK_NAMES pixel positions from MediaPipe face mesh (optional extra ``multi-neus[landmarks]``)."""
    face_mesh = _face_mesh_solution()
    height, width = image.shape[:2]
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        result = mesh.process((image * 255).astype(np.uint8))
    if not result.multi_face_landmarks:
        raise InputError("no face was found in the photo")
    marks = result.multi_face_landmarks[0].landmark
    return np.array([[marks[i].x * width, marks[i].y * height] for i in MEDIAPIPE_INDICES])


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
