"""Batched, differentiable pinhole camera utilities (OpenCV convention unless stated)."""

from .conventions import convert_c2w, invert_pose
from .pinhole import (
    focal_from_fov,
    intrinsics_matrix,
    pixel_centers,
    pixel_rays,
    project,
    scale_intrinsics,
    unproject,
)
from .poses import look_at, orbit_poses, rotate_camera_inplane, upright_angle

__all__ = [
    "convert_c2w",
    "focal_from_fov",
    "intrinsics_matrix",
    "invert_pose",
    "look_at",
    "orbit_poses",
    "pixel_centers",
    "pixel_rays",
    "project",
    "rotate_camera_inplane",
    "scale_intrinsics",
    "unproject",
    "upright_angle",
]
