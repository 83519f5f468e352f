import itertools
import math

import kornia
import pytest
import torch
from shared_utils.cameras import (
    convert_c2w,
    focal_from_fov,
    intrinsics_matrix,
    invert_pose,
    look_at,
    orbit_poses,
    pixel_centers,
    pixel_rays,
    project,
    rotate_camera_inplane,
    scale_intrinsics,
    unproject,
    upright_angle,
)
from shared_utils.errors import InputError

CONVENTIONS = ["opencv", "opengl", "pytorch3d"]
# Camera axes (right, down, forward) of each convention expressed in its own axes.
AXES = {
    "opencv": {"right": [1, 0, 0], "down": [0, 1, 0], "forward": [0, 0, 1]},
    "opengl": {"right": [1, 0, 0], "down": [0, -1, 0], "forward": [0, 0, -1]},
    "pytorch3d": {"right": [-1, 0, 0], "down": [0, -1, 0], "forward": [0, 0, 1]},
}


def random_c2w(batch, generator, dtype=torch.float64):
    q = torch.randn(*batch, 4, generator=generator, dtype=dtype)
    R = kornia.geometry.conversions.quaternion_to_rotation_matrix(q / q.norm(dim=-1, keepdim=True))
    T = torch.eye(4, dtype=dtype).repeat(*batch, 1, 1)
    T[..., :3, :3] = R
    T[..., :3, 3] = torch.randn(*batch, 3, generator=generator, dtype=dtype)
    return T


def random_K(batch, generator, dtype=torch.float64):
    f = 50 + 100 * torch.rand(*batch, 2, generator=generator, dtype=dtype)
    c = 20 + 40 * torch.rand(*batch, 2, generator=generator, dtype=dtype)
    return intrinsics_matrix(f[..., 0], f[..., 1], c[..., 0], c[..., 1])


class TestConvertC2W:
    @pytest.mark.parametrize("src, dst", list(itertools.product(CONVENTIONS, CONVENTIONS)))
    def test_round_trip_all_pairs(self, src, dst, generator):
        c2w = random_c2w((5,), generator)
        back = convert_c2w(convert_c2w(c2w, src, dst), dst, src)
        torch.testing.assert_close(back, c2w)

    @pytest.mark.parametrize("src, dst", list(itertools.product(CONVENTIONS, CONVENTIONS)))
    def test_agrees_with_definitions(self, src, dst, generator):
        """The same physical camera: each physical axis maps to the same world direction in both conventions."""
        c2w = random_c2w((3,), generator)
        out = convert_c2w(c2w, src, dst)
        for axis in ("right", "down", "forward"):
            world_src = c2w[..., :3, :3] @ torch.tensor(AXES[src][axis], dtype=c2w.dtype)
            world_dst = out[..., :3, :3] @ torch.tensor(AXES[dst][axis], dtype=c2w.dtype)
            torch.testing.assert_close(world_src, world_dst)
        torch.testing.assert_close(out[..., :3, 3], c2w[..., :3, 3])

    def test_shapes(self, generator):
        c2w = random_c2w((2, 3), generator)
        assert convert_c2w(c2w, "opencv", "opengl").shape == (2, 3, 4, 4)
        assert convert_c2w(c2w[..., :3, :], "opencv", "opengl").shape == (2, 3, 3, 4)

    def test_exception(self):
        with pytest.raises(InputError, match="convention 'blender'"):
            convert_c2w(torch.eye(4), "blender", "opencv")
        with pytest.raises(InputError, match="expected"):
            convert_c2w(torch.eye(3), "opencv", "opengl")


class TestInvertPose:
    def test_values(self, generator):
        T = random_c2w((4,), generator)
        torch.testing.assert_close(invert_pose(T), torch.linalg.inv(T))
        torch.testing.assert_close(invert_pose(invert_pose(T)), T)

    def test_gradcheck(self, generator):
        T = random_c2w((2,), generator).requires_grad_()
        assert torch.autograd.gradcheck(invert_pose, (T,))


class TestIntrinsics:
    def test_values(self):
        K = intrinsics_matrix(100.0, 120.0, 32.0, 24.0)
        torch.testing.assert_close(K, torch.tensor([[100.0, 0, 32], [0, 120, 24], [0, 0, 1]]))

    def test_shapes(self):
        K = intrinsics_matrix(torch.tensor([1.0, 2.0]), 3.0, 4.0, torch.tensor([[5.0], [6.0]]))
        assert K.shape == (2, 2, 3, 3)
        assert intrinsics_matrix(torch.tensor(1.0, dtype=torch.float64), 1, 1, 1).dtype == torch.float64

    def test_focal_from_fov(self):
        assert focal_from_fov(math.pi / 2, 100) == pytest.approx(50.0)
        torch.testing.assert_close(focal_from_fov(torch.tensor(math.pi / 2), 100), torch.tensor(50.0))

    def test_scale_intrinsics_keeps_pixel_centres(self):
        """Downsampling 2x: the centre of low-res pixel c is the midpoint of high-res pixels 2c and 2c+1."""
        K = intrinsics_matrix(100.0, 80.0, 31.7, 20.2)
        K2 = scale_intrinsics(K, 0.5, 0.5)
        point = torch.tensor([[0.3, -0.2, 2.0]])
        uv_high, _ = project(point, K, torch.eye(4))
        uv_low, _ = project(point, K2, torch.eye(4))
        torch.testing.assert_close(uv_low, uv_high * 0.5)
        torch.testing.assert_close(scale_intrinsics(K, 2.0, 3.0)[..., 2, :], K[..., 2, :])
        assert scale_intrinsics(K.expand(4, 3, 3), torch.ones(4), 1.0).shape == (4, 3, 3)


class TestProject:
    def test_smoke_shapes(self, generator):
        points = torch.randn(2, 7, 3, generator=generator)
        K, w2c = random_K((2,), generator, torch.float32), random_c2w((2,), generator, torch.float32)
        uv, depth = project(points, K, w2c)
        assert uv.shape == (2, 7, 2) and depth.shape == (2, 7)

    def test_agrees_with_kornia(self, generator):
        K, w2c = random_K((3,), generator), random_c2w((3,), generator)
        points = torch.randn(3, 10, 3, generator=generator, dtype=torch.float64)
        points[..., 2] += 5.0
        points = kornia.geometry.transform_points(invert_pose(w2c), points)  # in front of each camera
        uv, depth = project(points, K, w2c)
        cam = kornia.geometry.transform_points(w2c, points)
        expected = kornia.geometry.camera.project_points(cam, K[:, None])
        torch.testing.assert_close(uv, expected)
        torch.testing.assert_close(depth, cam[..., 2])
        K4 = torch.eye(4, dtype=K.dtype).repeat(3, 1, 1)
        K4[:, :3, :3] = K
        camera = kornia.geometry.camera.PinholeCamera(K4, w2c, torch.full((3,), 64.0), torch.full((3,), 64.0))
        torch.testing.assert_close(camera.project(points), uv)

    def test_unproject_round_trip(self, generator):
        K, c2w = random_K((2, 3), generator), random_c2w((2, 3), generator)
        uv = 64 * torch.rand(2, 3, 9, 2, generator=generator, dtype=torch.float64)
        depth = 1 + torch.rand(2, 3, 9, generator=generator, dtype=torch.float64)
        points = unproject(uv, depth, K, c2w)
        assert points.shape == (2, 3, 9, 3)
        uv2, depth2 = project(points, K, invert_pose(c2w))
        torch.testing.assert_close(uv2, uv)
        torch.testing.assert_close(depth2, depth)

    def test_gradcheck(self, generator):
        K, w2c = random_K((1,), generator), random_c2w((1,), generator)
        points = (torch.randn(1, 4, 3, generator=generator, dtype=torch.float64) + 5).requires_grad_()
        assert torch.autograd.gradcheck(lambda p, k, t: project(p, k, t)[0], (points, K.requires_grad_(), w2c))
        uv = torch.rand(1, 4, 2, dtype=torch.float64, requires_grad=True)
        depth = torch.rand(1, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(unproject, (uv, depth, K.detach(), w2c))


class TestPixelRays:
    def test_pixel_centers(self):
        uv = pixel_centers(2, 3)
        assert uv.shape == (2, 3, 2)
        torch.testing.assert_close(uv[1, 2], torch.tensor([2.5, 1.5]))

    def test_hit_projected_pixel_centres(self, generator):
        K, c2w = random_K((2,), generator), random_c2w((2,), generator)
        origins, directions = pixel_rays(K, c2w, 5, 7)
        assert origins.shape == directions.shape == (2, 5, 7, 3)
        torch.testing.assert_close(directions.norm(dim=-1), torch.ones(2, 5, 7, dtype=torch.float64))
        points = (origins + 3.0 * directions).reshape(2, -1, 3)
        uv, depth = project(points, K, invert_pose(c2w))
        expected = pixel_centers(5, 7).to(torch.float64).reshape(1, -1, 2).expand(2, -1, -1)
        torch.testing.assert_close(uv, expected)
        assert (depth > 0).all()

    def test_gradcheck(self, generator):
        K, c2w = random_K((1,), generator).requires_grad_(), random_c2w((1,), generator)
        assert torch.autograd.gradcheck(lambda k, t: pixel_rays(k, t, 2, 3)[1], (K, c2w.requires_grad_()))


class TestLookAt:
    def test_looks_at_target(self, generator):
        eye = torch.randn(6, 3, generator=generator, dtype=torch.float64) * 3
        target = torch.randn(6, 3, generator=generator, dtype=torch.float64)
        c2w = look_at(eye, target, (0.0, 0.0, 1.0))
        assert c2w.shape == (6, 4, 4)
        R = c2w[:, :3, :3]
        torch.testing.assert_close(R.transpose(1, 2) @ R, torch.eye(3, dtype=R.dtype).expand(6, 3, 3))
        torch.testing.assert_close(torch.linalg.det(R), torch.ones(6, dtype=R.dtype))
        uv, depth = project(target[:, None], intrinsics_matrix(50.0, 50.0, 16.0, 12.0).double(), invert_pose(c2w))
        torch.testing.assert_close(uv[:, 0], torch.tensor([[16.0, 12.0]], dtype=R.dtype).expand(6, 2))
        assert (depth > 0).all()
        # camera -y leans towards world up; camera x is horizontal
        assert (-R[:, 2, 1] > 0).all()
        torch.testing.assert_close(R[:, 2, 0], torch.zeros(6, dtype=R.dtype))

    def test_exception(self):
        with pytest.raises(InputError, match="parallel"):
            look_at([0.0, 0, 0], [0.0, 0, 1], [0.0, 0, 1])
        with pytest.raises(InputError, match="coincide"):
            look_at([1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 1])

    def test_gradcheck(self):
        eye = torch.tensor([[2.0, 1.0, 0.5]], dtype=torch.float64, requires_grad=True)
        target = torch.zeros(1, 3, dtype=torch.float64)
        up = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
        assert torch.autograd.gradcheck(look_at, (eye, target, up))


class TestOrbitPoses:
    @pytest.mark.parametrize("up", [(0, 0, 1), (0, 1, 0), (1.0, 1.0, 0.0)])
    def test_orbit(self, up):
        target = torch.tensor([1.0, -2.0, 0.5])
        c2w = orbit_poses(8, 3.0, 20.0, target=target, up=up, start_azimuth_deg=10.0)
        assert c2w.shape == (8, 4, 4)
        eyes = c2w[:, :3, 3]
        torch.testing.assert_close((eyes - target).norm(dim=-1), torch.full((8,), 3.0))
        forward = c2w[:, :3, 2]
        torch.testing.assert_close(forward, (target - eyes) / 3.0)
        up = torch.tensor(up, dtype=torch.float32) / torch.tensor(up, dtype=torch.float32).norm()
        # elevation 20 degrees above the plane orthogonal to up
        torch.testing.assert_close((eyes - target) @ up, torch.full((8,), 3.0 * math.sin(math.radians(20))))

    def test_azimuth_start(self):
        c2w = orbit_poses(4, 2.0, 0.0)
        torch.testing.assert_close(c2w[:, :3, 3], torch.tensor([[2.0, 0, 0], [0, 2, 0], [-2, 0, 0], [0, -2, 0]]),
                                   atol=1e-6, rtol=0)


class TestUpright:
    def test_values(self):
        # A camera rolled by 90 degrees sees world up pointing right in the image: it must turn 90 degrees CCW.
        c2w = look_at([0.0, -5.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]).double()
        K = intrinsics_matrix(50.0, 50.0, 32.0, 32.0).double()
        w2c = invert_pose(c2w)
        angle = upright_angle(K, w2c)
        _, up_image = self._projected_up(K, w2c)
        torch.testing.assert_close(up_image / up_image.norm(), torch.tensor([1.0, 0.0], dtype=torch.float64))
        assert float(angle) == pytest.approx(math.pi / 2)

    @staticmethod
    def _projected_up(K, w2c, up=(0.0, 0.0, 1.0)):
        """Image direction of the world up axis through the point on the optical axis at depth 1."""
        c2w = invert_pose(w2c)
        base = c2w[..., :3, 3] + c2w[..., :3, 2]
        up = torch.tensor(up, dtype=w2c.dtype)
        points = torch.stack([base, base + 1e-4 * up], dim=-2)
        uv, _ = project(points, K, w2c)
        return uv[..., 0, :], uv[..., 1, :] - uv[..., 0, :]

    @pytest.mark.parametrize("up", [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0)])
    def test_random_cameras_become_upright(self, generator, up):
        K, w2c = random_K((50,), generator), random_c2w((50,), generator)
        angle = upright_angle(K, w2c, up)
        assert angle.shape == (50,)
        rotated = rotate_camera_inplane(w2c, angle)
        centre, direction = self._projected_up(K, rotated, up)
        torch.testing.assert_close(centre, K[:, :2, 2])  # the principal point stays fixed
        torch.testing.assert_close(direction[:, 0], torch.zeros(50, dtype=torch.float64), atol=1e-9, rtol=0)
        assert (direction[:, 1] < 0).all()

    def test_rotation_matches_image_rotation(self, generator):
        """With square pixels the new image is the old one turned counter-clockwise (as displayed)."""
        K = intrinsics_matrix(60.0, 60.0, 30.0, 20.0).double()
        w2c = random_c2w((1,), generator)[0]
        points = kornia.geometry.transform_points(invert_pose(w2c)[None], torch.tensor(
            [[[0.1, 0.2, 3.0], [-0.5, 0.3, 4.0]]], dtype=torch.float64))[0]
        uv, _ = project(points, K, w2c)
        uv2, _ = project(points, K, rotate_camera_inplane(w2c, torch.tensor(math.pi / 2, dtype=torch.float64)))
        offset = uv - K[:2, 2]
        # CCW by 90 degrees on screen (v down): (du, dv) -> (dv, -du)
        torch.testing.assert_close(uv2 - K[:2, 2], torch.stack([offset[:, 1], -offset[:, 0]], -1))

    def test_gradcheck(self, generator):
        K, w2c = random_K((2,), generator), random_c2w((2,), generator).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: upright_angle(K, t), (w2c,))
        angle = torch.rand(2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(rotate_camera_inplane, (w2c, angle))
