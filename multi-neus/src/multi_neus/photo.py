"""``multineus wild``: one photo in, a 3-D head out.

The face is found (dlib, 68 landmarks), the photo is cropped around it with a margin and resized to the training
image size, the head is segmented (GrabCut seeded by the landmarks), the camera is initialised from the mean training
intrinsics and PnP on the class's 3-D landmarks, and the head is fitted in two stages with se(3) + focal
refinement. Without ground truth, the fit is measured against the photo itself: the landmark reprojection error of
the refined camera, the silhouette IoU of the render against the mask, and the PSNR of the render inside the mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from shared_utils.errors import InputError
from shared_utils.io import load_json, read_image, save_json, write_image, write_mesh, write_video
from shared_utils.metrics import psnr
from shared_utils.run import RunClock, RunDir, provenance

from .config import MultiNeuSConfig
from .data.head_family import LANDMARK_NAMES
from .figures import labelled_grid, save_figure
from .geometry.se3 import se3_exp
from .mesh import extract_mesh
from .render import render_view, shade_mesh, turntable, turntable_cameras
from .train import EXTRAS_FILE, MODEL_FILE, fit_multineus, load_model
from .wild import (
    DLIB_INDICES,
    composite,
    crop_and_resize,
    detect_face,
    face_crop_box,
    head_mask,
    read_landmarks_2d,
    wild_scene,
)

# The real-photo targets are stated for a 256 px crop; errors at the fit size are also given scaled to it.
REPROJECTION_REFERENCE_PX = 256
# Crop height in face heights (hairline to chin): the head with its hair and some background, as the thesis's crop.
CROP_MARGIN = 2.2
DIGITS = 4


@dataclass
class PreparedPhoto:
    image: np.ndarray  # (H, W, 3) the crop, at the training image size
    mask: np.ndarray  # (H, W) {0, 1}
    landmarks: np.ndarray  # (8, 2) LANDMARK_NAMES in crop pixels
    face: np.ndarray  # (68, 2) all detected landmarks in crop pixels
    box: tuple[int, int, int, int]  # (top, left, height, width) of the crop in the photo


def prepare_photo(image: np.ndarray, size: tuple[int, int], margin: float, seed: int) -> PreparedPhoto:
    face = detect_face(image)
    box = face_crop_box(face, image.shape[:2], size[1] / size[0], margin)
    top, left, height, width = box
    crop = crop_and_resize(image, box, size)
    face_in_crop = (face - [left, top]) * [size[1] / width, size[0] / height]
    mask = head_mask(crop, face_in_crop, seed=seed)
    return PreparedPhoto(crop, mask, face_in_crop[list(DLIB_INDICES)], face_in_crop, box)


def refined_camera(scene, corrections) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics and normalised c2w of view 0 with the fitted se(3) and focal corrections applied."""
    intrinsics = scene.intrinsics[0].astype(np.float64).copy()
    c2w = scene.normalized_c2w()[0].astype(np.float64)
    if corrections is not None:
        pose, log_focal = corrections
        c2w = c2w @ se3_exp(pose[:1].double())[0].numpy()
        intrinsics[0, 0] *= math.exp(float(log_focal[0, 0]))
        intrinsics[1, 1] *= math.exp(float(log_focal[0, 1]))
    return intrinsics, c2w


def project(points_world: np.ndarray, intrinsics: np.ndarray, c2w_normalized: np.ndarray,
            scale_mat: np.ndarray) -> np.ndarray:
    """Pixel positions (N, 2) of world points seen by a camera given in the normalised space."""
    homogeneous = np.concatenate([points_world, np.ones((len(points_world), 1))], 1)
    in_camera = (np.linalg.inv(c2w_normalized) @ np.linalg.inv(scale_mat) @ homogeneous.T).T[:, :3]
    pixels = in_camera @ intrinsics.T
    return pixels[:, :2] / pixels[:, 2:3]


def silhouette_iou(opacity: np.ndarray, mask: np.ndarray) -> float:
    rendered, target = opacity > 0.5, mask > 0.5
    union = np.logical_or(rendered, target).sum()
    return float(np.logical_and(rendered, target).sum() / union) if union else 0.0


def masked_psnr(render: np.ndarray, image: np.ndarray, mask: np.ndarray) -> float:
    inside = mask > 0.5
    # the pixels inside the mask as one (3, N, 1) image
    return float(psnr(torch.from_numpy(render[inside]).T[..., None], torch.from_numpy(image[inside]).T[..., None]))


def _write_inputs(prepared: PreparedPhoto, folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    photo, mask, landmarks = folder / "crop.png", folder / "mask.png", folder / "landmarks.json"
    write_image(photo, prepared.image)
    write_image(mask, prepared.mask)
    save_json({"names": list(LANDMARK_NAMES), "points": prepared.landmarks.tolist(),
               "crop_box_top_left_height_width": list(prepared.box)}, landmarks)
    return photo, mask, landmarks


def _marked(image: np.ndarray, detected: np.ndarray, reprojected: np.ndarray) -> np.ndarray:
    """The crop with detected landmarks (green) and the refined camera's reprojected 3-D landmarks (red)."""
    out = image.copy()
    radius = int(round(image.shape[0] / 128))  # a single pixel on the CPU config's 64 px crops
    for points, colour in ((detected, (0.1, 0.9, 0.1)), (reprojected, (1.0, 0.1, 0.1))):
        for u, v in np.round(points).astype(int):
            out[max(v - radius, 0):v + radius + 1, max(u - radius, 0):u + radius + 1] = colour
    return out


def fit_photo(cfg: MultiNeuSConfig, run_dir, image_path, output_dir, margin: float = CROP_MARGIN) -> dict:
    """Everything ``multineus wild`` does; returns ``metrics.json``'s content. (``multineus fit --photo`` takes a
    mask and landmarks of the user's own instead.)"""
    clock = RunClock()
    run = RunDir(run_dir).require()
    meta_file = run / "meta" / MODEL_FILE
    _, meta_model, _ = load_model(meta_file)
    extras_file = run / "meta" / EXTRAS_FILE
    extras = load_json(extras_file)
    if "reference_landmarks" not in extras:
        raise InputError(f"{extras_file} has no reference 3-D landmarks: the training scenes had none")
    size = tuple(extras["image_size"])
    image = read_image(image_path, channels=3)
    cfg.fit.cameras.enabled = True  # a photo's camera comes from PnP: it is refined (saved with the config)
    out = RunDir(output_dir).create()
    out.save_config(cfg)
    prepared = prepare_photo(image, size, margin, cfg.seed)
    crop_path, mask_path, landmarks_path = _write_inputs(prepared, out / "inputs")
    reference = np.asarray(extras["reference_landmarks"])
    scene = wild_scene(crop_path, mask_path, reference, np.asarray(extras["mean_intrinsics"]), size,
                       np.asarray(extras["scale_mat"]), cfg.renderer, landmarks_path)
    stages, _ = fit_multineus(cfg, meta_model, scene, out / "fit")
    final = stages[-1]
    model = final.model.eval()

    mesh = extract_mesh(model, 0, scene.scale_mat, cfg.eval.mesh_resolution, cfg.eval.mesh_bound)
    write_mesh(out.pictures / "head.ply", mesh.vertices, mesh.faces, np.asarray(mesh.visual.vertex_colors[:, :3]) / 255)
    out.add_caption("head.ply", "The fitted head: marching-cubes mesh in world units (m, as the training heads) with "
                                "vertex colours from the colour network")
    intrinsics, c2w = refined_camera(scene, final.corrections)
    height, width = size
    render = render_view(model, 0, intrinsics, c2w, height, width, cfg.renderer)
    detected = read_landmarks_2d(landmarks_path)
    reprojected = project(reference, intrinsics, c2w, scene.scale_mat)
    error_px = float(np.linalg.norm(reprojected - detected, axis=-1).mean())
    mask = scene.masks[0]
    target = scene.images[0]
    components = mesh.split(only_watertight=False) if len(mesh.faces) else []
    extent_mm = (mesh.bounds[1] - mesh.bounds[0]) * cfg.eval.world_unit_mm if len(mesh.vertices) else np.zeros(3)
    metrics = {
        "photo": Path(image_path).name,
        "fit_size_px": [height, width],
        "landmark_reprojection_error_px": round(error_px, DIGITS),
        "landmark_reprojection_error_px_at_256": round(error_px * REPROJECTION_REFERENCE_PX / height, DIGITS),
        "silhouette_iou": round(silhouette_iou(render["opacity"], mask), DIGITS),
        "masked_psnr_db": round(masked_psnr(render["color"], target, mask), DIGITS),
        "mesh": {"vertices": len(mesh.vertices), "faces": len(mesh.faces), "components": len(components),
                 "watertight": bool(mesh.is_watertight), "extent_mm": [round(float(v), 1) for v in extent_mm]},
    }
    metrics["headline"] = {"silhouette IoU": metrics["silhouette_iou"],
                           "reprojection px at 256": metrics["landmark_reprojection_error_px_at_256"],
                           "masked PSNR dB": metrics["masked_psnr_db"]}
    _write_pictures(cfg, out, scene, render, mesh, detected, reprojected, target, mask)
    block = provenance(cfg, seed=cfg.seed, steps={f"stage{i + 1}": s.steps for i, s in enumerate(stages)},
                       wall_time_s=clock.seconds(), time_limit_reached=any(s.time_limited for s in stages))
    out.write_metrics(metrics, block)
    out.write_results(_results_markdown(metrics))
    return {**metrics, "provenance": block}


def _write_pictures(cfg, out: RunDir, scene, render, mesh, detected, reprojected, target, mask) -> None:
    distance = float(np.linalg.norm(scene.c2w[0, :3, 3] - scene.scale_mat[:3, 3]))
    size = cfg.pictures.turntable_size
    k, c2w = turntable_cameras(8, size, distance)
    photo = composite(target, mask, 1.0)
    images = [_marked(target, detected, reprojected), photo, render["color"], render["normal"],
              shade_mesh(mesh, k, c2w[0], size), shade_mesh(mesh, k, c2w[1], size), shade_mesh(mesh, k, c2w[2], size)]
    titles = ["crop (green: detected,\nred: reprojected landmarks)", "head mask", "render, fitted camera",
              "normals, fitted camera", "mesh: front", "mesh: 45 deg", "mesh: 90 deg"]
    save_figure(labelled_grid({"": images}, titles, "3-D head from one photo (Multi-NeuS, two-stage fit with camera "
                                                    "refinement)"), out.pictures / "summary.png")
    out.add_caption("summary.png", "Left to right: the photo crop with its detected landmarks (green) and the class's "
                                   "3-D landmarks projected by the refined camera (red); the head mask (GrabCut); the "
                                   "volume render and its normal map from the refined camera; the mesh seen from the "
                                   "front, 45 and 90 degrees to the side.")
    frames = turntable(mesh, cfg.pictures.turntable_frames, size, distance)
    write_video(out.pictures / "turntable.mp4", frames, fps=cfg.pictures.fps)
    out.add_caption("turntable.mp4", "Turntable of the fitted mesh (vertex colours, Lambert shading)")


def _results_markdown(metrics: dict) -> str:
    rows = [("landmark reprojection error", f"{metrics['landmark_reprojection_error_px']:.2f} px at "
             f"{metrics['fit_size_px'][0]} px = {metrics['landmark_reprojection_error_px_at_256']:.2f} px at 256",
             "<= 3 px at 256"),
            ("silhouette IoU (render vs mask)", f"{metrics['silhouette_iou']:.3f}", ">= 0.9"),
            ("PSNR inside the mask", f"{metrics['masked_psnr_db']:.2f} dB", "-"),
            ("mesh", f"{metrics['mesh']['components']} component(s), watertight: {metrics['mesh']['watertight']}, "
                     f"extent {' x '.join(f'{v:.0f}' for v in metrics['mesh']['extent_mm'])} mm", "one head ~180 mm")]
    lines = ["# Multi-NeuS on one photo", "", f"Photo: `{metrics['photo']}`.", "",
             "| measure | this fit | target |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""]
    return "\n".join(lines)
