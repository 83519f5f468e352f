import math

import torch
from shared_utils.cameras import focal_from_fov, intrinsics_matrix, invert_pose, look_at, project

from npbgpp.models.rasterizer import rasterize_multiscale, rasterize_nearest


def setup(size=12, count=80, seed=0):
    generator = torch.Generator().manual_seed(seed)
    c2w = look_at(torch.tensor([2.5, 1.0, 2.0]), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
    focal = float(focal_from_fov(math.radians(55), size))
    intrinsics = intrinsics_matrix(focal, focal, size / 2, size / 2).float()
    points = torch.rand(count, 3, generator=generator) * 2 - 1
    descriptors = torch.randn(count, 5, generator=generator)
    return points, descriptors, intrinsics, invert_pose(c2w).float()


def brute_force_raster(points, descriptors, intrinsics, w2c, height, width):
    uv, depth = project(points, intrinsics, w2c)
    out = torch.zeros(descriptors.shape[1] + 1, height, width)
    for row in range(height):
        for col in range(width):
            nearest, nearest_depth = None, math.inf
            for index in range(points.shape[0]):
                u, v, z = float(uv[index, 0]), float(uv[index, 1]), float(depth[index])
                if z > 1e-4 and col <= u < col + 1 and row <= v < row + 1 and z < nearest_depth:
                    nearest, nearest_depth = index, z
            if nearest is not None:
                out[:-1, row, col] = descriptors[nearest]
                out[-1, row, col] = 1.0
    return out


def test_rasteriser_matches_brute_force_loop():
    points, descriptors, intrinsics, w2c = setup()
    expected = brute_force_raster(points, descriptors, intrinsics, w2c, 12, 10)
    assert float(expected[-1].sum()) > 10  # the check covers many occupied pixels
    torch.testing.assert_close(rasterize_nearest(points, descriptors, intrinsics, w2c, 12, 10), expected)


def test_multiscale_levels_match_brute_force():
    points, descriptors, intrinsics, w2c = setup(size=16, count=60, seed=1)
    rasters = rasterize_multiscale(points, descriptors, intrinsics, w2c, 16, 16, 3)
    assert [tuple(r.shape) for r in rasters] == [(6, 16, 16), (6, 8, 8), (6, 4, 4)]
    half_k = intrinsics.clone()
    half_k[:2] /= 2
    torch.testing.assert_close(rasters[1], brute_force_raster(points, descriptors, half_k, w2c, 8, 8))


def test_gradient_reaches_only_drawn_descriptors():
    points, descriptors, intrinsics, w2c = setup()
    descriptors.requires_grad_(True)
    raster = rasterize_nearest(points, descriptors, intrinsics, w2c, 12, 12)
    raster[:-1].sum().backward()
    drawn = descriptors.grad.abs().sum(1) > 0
    assert int(drawn.sum()) == int(raster[-1].sum())


def test_empty_view_is_all_background():
    points, descriptors, intrinsics, w2c = setup()
    behind = points + torch.tensor([50.0, 20.0, 40.0])  # far behind the camera
    raster = rasterize_nearest(behind, descriptors, intrinsics, w2c, 8, 8)
    assert float(raster.abs().sum()) == 0.0
