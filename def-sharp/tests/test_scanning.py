import numpy as np
import pytest
import trimesh
from def_sharp.data.scanning import camera_looking_along, fibonacci_directions, patch_view_grid, scan
from shared_utils.errors import InputError


def slab_depth(origins, direction, lower, upper):
    """Analytic first-hit distance of rays with an axis-aligned box (slab method); inf on a miss."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lower - origins) / direction
        t2 = (upper - origins) / direction
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((far >= near) & (far > 0), near, np.inf)


@pytest.mark.parametrize("direction", [(0.0, 0.0, -1.0), (0.3, -0.5, -0.8), (1.0, 0.2, 0.1)])
def test_ray_cast_depth_matches_analytic_box(direction):
    size = np.array([1.0, 0.6, 0.4])
    box = trimesh.creation.box(size)
    camera = camera_looking_along(np.array(direction), np.zeros(3), standoff=2.0, pixel_size=0.02, size=64,
                                  inplane_angle=0.4, shift=(0.1, -0.05))
    result = scan(box, camera)
    origins = camera.ray_origins().reshape(-1, 3)
    expected = slab_depth(origins, camera.direction, -size / 2, size / 2).reshape(64, 64)
    hit = np.isfinite(expected)
    # Rays that graze an edge may go either way; everything else must agree exactly.
    assert (result.mask == hit).mean() > 0.995
    both = result.mask & hit
    assert both.sum() > 500
    assert np.allclose(result.depth[both], expected[both], atol=1e-6)
    assert np.allclose(camera.unproject(result.depth)[both], result.points[both], atol=1e-6)


def test_axis_aligned_depth_is_standoff_minus_half_height():
    box = trimesh.creation.box((1.0, 1.0, 0.5))
    camera = camera_looking_along(np.array([0.0, 0.0, -1.0]), np.zeros(3), standoff=3.0, pixel_size=0.01, size=32)
    result = scan(box, camera)
    assert result.mask.all()
    assert np.allclose(result.depth, 3.0 - 0.25)


def test_projection_inverts_unprojection():
    camera = camera_looking_along(np.array([0.2, 0.9, -0.1]), np.array([0.1, 0, 0]), 2.0, 0.05, 16, 1.1, (0.2, 0.3))
    depth = np.random.default_rng(0).uniform(1, 2, size=(16, 16))
    uv, z = camera.to_pixels(camera.unproject(depth).reshape(-1, 3))
    cols, rows = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5)
    assert np.allclose(uv[:, 0], cols.ravel()) and np.allclose(uv[:, 1], rows.ravel())
    assert np.allclose(z, depth.ravel())


def test_pose_grid_is_the_product_of_directions_shifts_rotations():
    views = patch_view_grid(trimesh.creation.box((2, 2, 2)), 36, 25, 5, 0.02, 64)
    assert len(views) == 36 * 25 * 5
    assert np.allclose(np.linalg.norm(fibonacci_directions(36), axis=1), 1.0)


def test_empty_mesh_is_rejected():
    camera = camera_looking_along(np.array([0.0, 0.0, 1.0]), np.zeros(3), 1.0, 0.1, 8)
    with pytest.raises(InputError, match="empty"):
        scan(trimesh.Trimesh(), camera)
