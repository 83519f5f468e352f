"""H3DS protocol: ICP-align the ground-truth face onto the prediction, then unidirectional Chamfer GT -> prediction."""

from __future__ import annotations

import numpy as np
import trimesh
from shared_utils.errors import InputError
from shared_utils.metrics import chamfer_distance, icp_align

from .config import EvalConfig


def transform_points(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    return points @ transform[:3, :3].T + transform[:3, 3]


def h3ds_chamfer(pred: trimesh.Trimesh, gt: trimesh.Trimesh, face_vertices: np.ndarray, cfg: EvalConfig,
                 seed: int = 0) -> dict[str, float]:
    """Face and head unidirectional Chamfer distances (ground truth -> prediction) in mm after ICP on the face."""
    if len(pred.faces) == 0:
        raise InputError("predicted mesh is empty (0 faces)")
    if face_vertices is None or not face_vertices.any():
        raise InputError("ground truth has no face-region vertices")
    samples = np.asarray(trimesh.sample.sample_surface(pred, cfg.surface_samples, seed=seed)[0], dtype=np.float64)
    gt_vertices = np.asarray(gt.vertices, dtype=np.float64)
    gt_face = gt_vertices[face_vertices]
    transform, fitness, rmse = icp_align(
        gt_face, samples, max_correspondence_distance=cfg.icp_max_correspondence_mm / cfg.world_unit_mm,
        iterations=cfg.icp_iterations,
    )
    face = chamfer_distance(transform_points(gt_face, transform), samples, direction="a_to_b")
    head = chamfer_distance(transform_points(gt_vertices, transform), samples, direction="a_to_b")
    return {
        "chamfer_face_mm": float(face * cfg.world_unit_mm),
        "chamfer_head_mm": float(head * cfg.world_unit_mm),
        "icp_fitness": float(fitness),
        "icp_rmse_mm": float(rmse * cfg.world_unit_mm),
    }
