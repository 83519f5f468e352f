import math

import pytest
import torch
from shared_utils.cameras import focal_from_fov, intrinsics_matrix, invert_pose, look_at, project

from npbgpp.models.visibility import zbuffer_visibility


def camera(size):
    c2w = look_at(torch.tensor([0.3, -0.2, 3.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    focal = float(focal_from_fov(math.radians(60), size))
    return intrinsics_matrix(focal, focal, size / 2, size / 2).float(), invert_pose(c2w).float()


def brute_force_visible(points, intrinsics, w2c, height, width):
    uv, depth = project(points, intrinsics, w2c)
    best = {}
    for index in range(points.shape[0]):
        u, v, z = float(uv[index, 0]), float(uv[index, 1]), float(depth[index])
        if z <= 1e-4 or not (0 <= u < width and 0 <= v < height):
            continue
        pixel = (int(math.floor(v)), int(math.floor(u)))
        if pixel not in best or z < best[pixel][0]:
            best[pixel] = (z, index)
    visible = torch.zeros(points.shape[0], dtype=torch.bool)
    for _, index in best.values():
        visible[index] = True
    return visible


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_exactly_the_front_most_point_per_low_resolution_pixel(scale):
    intrinsics, w2c = camera(32)
    points = torch.rand(600, 3) * 2 - 1
    visible = zbuffer_visibility(points, intrinsics, w2c, 32, 32, scale)
    low = int(32 * scale)
    low_k = intrinsics.clone()
    low_k[:2] *= scale
    assert torch.equal(visible, brute_force_visible(points, low_k, w2c, low, low))


def test_occluded_point_is_hidden_and_ties_keep_one():
    intrinsics, w2c = camera(16)
    center = -(w2c[:3, :3].T @ w2c[:3, 3])
    direction = -center / center.norm()
    front = center + 2.0 * direction
    back = center + 2.5 * direction
    points = torch.stack([back, front, front.clone(), torch.tensor([0.0, 0.0, 10.0])])
    visible = zbuffer_visibility(points, intrinsics, w2c, 16, 16)
    # The last point lies behind the camera and is never visible.
    assert visible.tolist() == [False, True, False, False]
    assert torch.equal(visible, brute_force_visible(points, intrinsics, w2c, 16, 16))
