import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.transform import Rotation
from shared_utils.errors import InputError
from shared_utils.metrics import (
    chamfer_distance,
    frechet_distance,
    frechet_distance_from_statistics,
    gaussian_statistics,
    icp_align,
    nearest_distances,
    psnr,
    ssim,
)
from skimage.metrics import structural_similarity


class TestPSNR:
    def test_exact_values(self):
        target = torch.zeros(2, 3, 4, 4)
        pred = target.clone()
        pred[0] += 0.1  # mse 0.01 -> 20 dB
        pred[1, :, :2] += 0.5  # mse 0.125 -> 9.0309 dB
        torch.testing.assert_close(psnr(pred, target), torch.tensor([20.0, 10 * math.log10(8)]))
        torch.testing.assert_close(psnr(pred * 255, target, data_range=255.0), torch.tensor(
            [20.0, 10 * math.log10(8)]))

    def test_crop_border(self):
        target = torch.zeros(1, 6, 6)
        pred = target.clone()
        pred[..., 0, :] = 1.0  # only the border is wrong
        assert torch.isinf(psnr(pred, target, crop_border=1))
        torch.testing.assert_close(psnr(pred, target), torch.tensor(10 * math.log10(6.0)))

    def test_exception(self):
        with pytest.raises(InputError, match="shape"):
            psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))

    def test_gradcheck(self):
        pred = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(psnr, (pred, torch.rand(1, 3, 4, 4, dtype=torch.float64)))


class TestSSIM:
    @pytest.mark.parametrize("channels", [1, 3])
    def test_agrees_with_skimage(self, rng, channels):
        target = rng.random((24, 31, channels))
        pred = np.clip(target + 0.2 * rng.standard_normal(target.shape), 0, 1)
        expected = structural_similarity(pred, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1.0, channel_axis=-1)
        value = ssim(*(torch.from_numpy(x).permute(2, 0, 1).float() for x in (pred, target)))
        assert abs(float(value) - expected) < 1e-4

    def test_batch_and_crop(self, rng):
        images = torch.from_numpy(rng.random((2, 3, 3, 20, 20))).float()
        noisy = (images + 0.1 * torch.from_numpy(rng.standard_normal(images.shape)).float()).clamp(0, 1)
        values = ssim(noisy, images)
        assert values.shape == (2, 3)
        torch.testing.assert_close(ssim(images, images), torch.ones(2, 3))
        cropped = ssim(noisy, images, crop_border=2)
        torch.testing.assert_close(cropped, ssim(noisy[..., 2:-2, 2:-2], images[..., 2:-2, 2:-2]))

    def test_data_range(self, rng):
        a, b = (torch.from_numpy(rng.random((3, 16, 16))).float() for _ in range(2))
        torch.testing.assert_close(ssim(a * 255, b * 255, data_range=255.0), ssim(a, b))

    def test_exception(self):
        with pytest.raises(InputError, match="smaller than the 11x11"):
            ssim(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))

    def test_gradcheck(self):
        pred = torch.rand(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(ssim, (pred, torch.rand(1, 1, 12, 12, dtype=torch.float64)))


class TestChamfer:
    def test_agrees_with_brute_force(self, rng):
        a, b = rng.random((50, 3)), rng.random((70, 3)) + 0.3
        d = np.linalg.norm(a[:, None] - b[None], axis=-1)
        np.testing.assert_allclose(nearest_distances(a, b), d.min(1))
        assert chamfer_distance(a, b, "a_to_b") == pytest.approx(d.min(1).mean())
        assert chamfer_distance(a, b, "b_to_a") == pytest.approx(d.min(0).mean())
        assert chamfer_distance(a, b) == pytest.approx(0.5 * (d.min(1).mean() + d.min(0).mean()))
        assert chamfer_distance(a, a) == 0.0

    def test_exception(self, rng):
        with pytest.raises(InputError, match="direction 'both'"):
            chamfer_distance(rng.random((3, 3)), rng.random((3, 3)), "both")
        with pytest.raises(InputError, match=r"a has shape \(3, 2\)"):
            chamfer_distance(rng.random((3, 2)), rng.random((3, 3)))
        with pytest.raises(InputError, match="b is empty"):
            chamfer_distance(rng.random((3, 3)), np.zeros((0, 3)))
        with pytest.raises(InputError, match="NaN"):
            chamfer_distance(np.full((3, 3), np.nan), rng.random((3, 3)))


class TestICP:
    @pytest.mark.parametrize("point_to_plane", [False, True])
    def test_recovers_rigid_transform(self, rng, point_to_plane):
        # A noisy box surface has enough structure for both ICP variants to lock on.
        target = rng.random((2000, 3)) * [2.0, 1.0, 0.5]
        target[::3, 2] = 0.0
        target[1::3, 0] = 0.0
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("xyz", [4, -3, 5], degrees=True).as_matrix()
        T[:3, 3] = [0.05, -0.03, 0.02]
        source = (target - T[:3, 3]) @ T[:3, :3]  # source = T^-1 target, so T maps source onto target
        transform, fitness, rmse = icp_align(source, target, max_correspondence_distance=0.2, iterations=100,
                                             point_to_plane=point_to_plane)
        np.testing.assert_allclose(transform, T, atol=1e-3)
        assert fitness == pytest.approx(1.0) and rmse < 1e-3

    def test_init_and_exception(self, rng):
        points = rng.random((100, 3))
        transform, fitness, _ = icp_align(points, points, max_correspondence_distance=0.1, init=np.eye(4))
        np.testing.assert_allclose(transform, np.eye(4), atol=1e-9)
        with pytest.raises(InputError, match=r"init has shape \(3, 3\)"):
            icp_align(points, points, max_correspondence_distance=0.1, init=np.eye(3))


class TestFrechet:
    def test_self_is_zero(self, rng):
        features = rng.standard_normal((200, 16))
        assert abs(frechet_distance(features, features)) < 1e-6

    def test_agrees_with_scipy(self, rng):
        a = rng.standard_normal((300, 8))
        b = rng.standard_normal((250, 8)) @ rng.standard_normal((8, 8)) * 0.5 + 1.0
        mu1, mu2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        # Independent form: Tr(sqrt(sqrt(s1) s2 sqrt(s1))) equals Tr(sqrt(s1 s2)).
        r1 = scipy.linalg.sqrtm(s1).real
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1).real)
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
        assert frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)

    def test_one_dimension_closed_form(self):
        # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2
        value = frechet_distance_from_statistics(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]]))
        assert value == pytest.approx(4.0 + 1.0)

    def test_singular(self, rng):
        few = rng.standard_normal((5, 20))  # rank-deficient covariance
        assert np.isfinite(frechet_distance(few, rng.standard_normal((6, 20))))

    def test_statistics_and_exception(self, rng):
        features = rng.standard_normal((10, 4))
        mu, sigma = gaussian_statistics(features)
        assert mu.shape == (4,) and sigma.shape == (4, 4)
        with pytest.raises(InputError, match="N >= 2"):
            gaussian_statistics(features[:1])
        with pytest.raises(InputError, match="do not match"):
            frechet_distance_from_statistics(mu, sigma, mu[:3], sigma[:3, :3])
