import torch

from npbgpp.data.views import color_jitter, random_crop_camera
from npbgpp.evaluate import mean_colour_images, orbit_cameras, time_to_reach


def test_time_to_reach_returns_first_crossing():
    timeline = [{"seconds": 0.0, "psnr": 10.0}, {"seconds": 2.0, "psnr": 15.0}, {"seconds": 4.0, "psnr": 18.0}]
    assert time_to_reach(timeline, 14.0) == 2.0
    assert time_to_reach(timeline, 30.0) is None


def test_mean_colour_image_uses_input_views_only(tiny_scene):
    images = mean_colour_images(tiny_scene, tiny_scene.holdout_indices)
    expected = tiny_scene.images[tiny_scene.input_indices].mean(dim=(0, 2, 3))
    assert images.shape == (len(tiny_scene.holdout_indices), 3, 32, 32)
    torch.testing.assert_close(images[0, :, 5, 7], expected)


def test_orbit_cameras_look_at_the_cloud(tiny_scene):
    intrinsics, w2c = orbit_cameras(tiny_scene, 5, (0.0, 0.0, 1.0))
    center = tiny_scene.points.mean(0)
    camera_space = center @ w2c[:, :3, :3].transpose(-1, -2) + w2c[:, :3, 3]
    # The cloud centre is straight ahead of every orbit camera.
    torch.testing.assert_close(camera_space[:, :2], torch.zeros(5, 2), atol=1e-4, rtol=0)
    assert bool((camera_space[:, 2] > 0).all()) and intrinsics.shape == (5, 3, 3)


def test_colour_jitter_is_shared_and_bounded():
    images = torch.full((3, 3, 4, 4), 0.5)
    jittered = color_jitter(images, 0.2, torch.Generator().manual_seed(1))
    torch.testing.assert_close(jittered[0], jittered[2])
    assert float(jittered.min()) >= 0.0 and float(jittered.max()) <= 1.0
    assert color_jitter(images, 0.0) is images


def test_random_crop_shifts_the_principal_point():
    intrinsics = torch.tensor([[50.0, 0, 32], [0, 50.0, 30], [0, 0, 1]])
    cropped, top, left = random_crop_camera(intrinsics, 64, 60, 16, torch.Generator().manual_seed(0))
    assert float(cropped[0, 2]) == 32 - left and float(cropped[1, 2]) == 30 - top
    assert 0 <= top <= 48 and 0 <= left <= 44
