import math

import pytest
import torch
from shared_utils.cameras import focal_from_fov, intrinsics_matrix, invert_pose, look_at, project, rotate_camera_inplane

from npbgpp.models.alignment import canonical_views, warp_from_canonical, warp_to_canonical

UP = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


def rolled_cameras(rolls_deg, size=40, fx_over_fy=1.0):
    count = len(rolls_deg)
    eye = torch.tensor([[3.0, -2.0, 1.5], [-1.0, 3.5, 2.5], [2.0, 2.0, 0.5], [0.5, -3.0, 3.0]], dtype=torch.float64)
    eye = eye[torch.arange(count) % 4]
    c2w = look_at(eye, torch.zeros_like(eye), UP.expand_as(eye))
    w2c = rotate_camera_inplane(invert_pose(c2w), torch.deg2rad(torch.tensor(rolls_deg, dtype=torch.float64)))
    focal = float(focal_from_fov(math.radians(50), size))
    k = intrinsics_matrix(focal * fx_over_fy, focal, size / 2 + 1.5, size / 2 - 2.0).double()
    return k.expand(count, 3, 3).clone(), w2c


@pytest.mark.parametrize("fx_over_fy", [1.0, 1.2])
def test_projected_up_axis_is_vertical(fx_over_fy):
    intrinsics, w2c = rolled_cameras([35.0, -80.0, 170.0, 5.0], fx_over_fy=fx_over_fy)
    views = canonical_views(intrinsics, w2c, 40, 40, up=(0, 0, 1))
    for k, t in zip(views.intrinsics, views.w2c, strict=True):
        center = -(t[:3, :3].T @ t[:3, 3])
        forward = t[2, :3]
        base = center + 3.0 * forward
        uv, _ = project(torch.stack([base, base + 0.2 * UP]), k, t)
        # The up axis through the principal point projects onto the vertical line through it, pointing to -v.
        assert abs(float(uv[0, 0] - k[0, 2])) < 1e-6
        assert abs(float(uv[1, 0] - uv[0, 0])) < 1e-6
        assert float(uv[1, 1]) < float(uv[0, 1])


def test_homography_maps_projections_and_canvas_holds_the_image():
    intrinsics, w2c = rolled_cameras([35.0, -80.0, 170.0])
    views = canonical_views(intrinsics, w2c, 40, 40, pad_multiple=16)
    assert views.size % 16 == 0
    points = torch.randn(50, 3, dtype=torch.float64) * 0.5
    for i in range(3):
        uv, _ = project(points, intrinsics[i], w2c[i])
        mapped = torch.cat([uv, torch.ones(50, 1, dtype=torch.float64)], 1) @ views.homography[i].T
        uv_canonical, _ = project(points, views.intrinsics[i], views.w2c[i])
        torch.testing.assert_close(mapped[:, :2] / mapped[:, 2:], uv_canonical)
        corners = torch.tensor([[0, 0, 1], [40, 0, 1], [0, 40, 1], [40, 40, 1]], dtype=torch.float64)
        corners = corners @ views.homography[i].T
        corners = corners[:, :2] / corners[:, 2:]
        assert bool(((corners >= -1e-6) & (corners <= views.size + 1e-6)).all())


def test_warp_follows_the_camera():
    """A bright pixel lands where the canonical camera projects the same 3D point."""
    intrinsics, w2c = rolled_cameras([60.0])
    views = canonical_views(intrinsics, w2c, 40, 40)
    image = torch.zeros(1, 1, 40, 40, dtype=torch.float64)
    image[0, 0, 10, 25] = 1.0
    warped = warp_to_canonical(image, views)
    row, col = divmod(int(warped[0, 0].argmax()), views.size)
    target = views.homography[0] @ torch.tensor([25.5, 10.5, 1.0], dtype=torch.float64)
    target = target[:2] / target[2]
    assert abs(col + 0.5 - float(target[0])) <= 0.75 and abs(row + 0.5 - float(target[1])) <= 0.75


def test_inverse_rotation_restores_the_image():
    intrinsics, w2c = rolled_cameras([35.0, -120.0])
    views = canonical_views(intrinsics, w2c, 40, 40)
    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    smooth = torch.stack([torch.sin(rows / 6) * torch.cos(cols / 7), torch.cos((rows + cols) / 9),
                          rows / 40]).double()
    images = smooth.expand(2, 3, 40, 40).clone()
    restored = warp_from_canonical(warp_to_canonical(images, views), views)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert float((restored[inner] - images[inner]).abs().max()) < 0.02


def test_no_alignment_keeps_the_orientation():
    intrinsics, w2c = rolled_cameras([35.0])
    views = canonical_views(intrinsics, w2c, 40, 40, align=False)
    torch.testing.assert_close(views.w2c, w2c)
    torch.testing.assert_close(views.homography[0, :2, :2], torch.eye(2, dtype=torch.float64))
