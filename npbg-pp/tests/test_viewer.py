"""``npbgpp view``: the browser camera maps to the same OpenCV camera the renderer uses, live renders equal the
offline renders for that camera, and the viewer serves the scene with its input cameras."""

from __future__ import annotations

import math
import socket
import urllib.request

import numpy as np
import pytest
import torch
from shared_utils.cameras import invert_pose, look_at, project

from npbgpp.evaluate import render_cameras
from npbgpp.models.npbgpp import NPBGPP

pytest.importorskip("viser", reason="viser is not installed (pip install 'shared-utils[view]')")
from npbgpp.viewer import LiveRenderer, camera_from_viewer, serve_scene, viewer_pose  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_viewer_pose_round_trips_to_the_same_w2c():
    c2w = look_at(torch.tensor([1.5, -2.0, 0.7]), torch.tensor([0.1, 0.2, -0.1]), torch.tensor([0.0, 0.0, 1.0]))
    w2c = invert_pose(c2w)
    wxyz, position = viewer_pose(w2c)
    _, back, _, _ = camera_from_viewer(position, wxyz, math.radians(50), 1.0, 64)
    assert torch.allclose(back, w2c.float(), atol=1e-5)


def test_viewer_camera_projects_like_a_pinhole_with_that_field_of_view():
    """The look-at target lands on the image centre; a point at the edge of the vertical field of view lands on the
    top image border; the width follows the aspect ratio."""
    eye, target = torch.tensor([0.0, -3.0, 0.0]), torch.tensor([0.0, 0.0, 0.0])
    w2c = invert_pose(look_at(eye, target, torch.tensor([0.0, 0.0, 1.0])))
    wxyz, position = viewer_pose(w2c)
    fov_y = math.radians(40)
    intrinsics, w2c_back, height, width = camera_from_viewer(position, wxyz, fov_y, 1.5, 100)
    assert (height, width) == (100, 150)
    top = torch.tensor([0.0, 0.0, 3.0 * math.tan(fov_y / 2)])  # world up = image up for this camera
    pixels, depth = project(torch.stack([target, top]), intrinsics, w2c_back)
    assert torch.allclose(pixels[0], torch.tensor([75.0, 50.0]), atol=1e-4)
    assert torch.allclose(pixels[1], torch.tensor([75.0, 0.0]), atol=1e-4)
    assert torch.allclose(depth, torch.tensor([3.0, 3.0]), atol=1e-5)


@pytest.fixture
def built(tiny_config, tiny_scene):
    model = NPBGPP(tiny_config).eval()
    inputs = tiny_scene.input_indices.tolist()
    views = ((tiny_scene.images[i], tiny_scene.intrinsics[i], tiny_scene.w2c[i]) for i in inputs)
    with torch.inference_mode():
        descriptors = model.aggregate(views, tiny_scene.points)
    return model, descriptors


def test_live_render_equals_the_offline_render_for_the_same_camera(built, tiny_scene):
    model, descriptors = built
    frame = int(tiny_scene.holdout_indices[0])
    wxyz, position = viewer_pose(tiny_scene.w2c[frame])
    fov_y = 2 * math.atan(tiny_scene.height / (2 * float(tiny_scene.intrinsics[frame, 1, 1])))
    intrinsics, w2c, height, width = camera_from_viewer(position, wxyz, fov_y, 1.0, tiny_scene.height)
    live = LiveRenderer(model, descriptors).render(intrinsics, w2c, height, width)
    with torch.inference_mode():
        offline = render_cameras(model, descriptors, intrinsics[None], w2c[None], height, width)[0]
    expected = (offline.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    assert live.shape == (height, width, 3) and live.dtype == np.uint8
    assert np.array_equal(live, expected)
    assert live.std() > 0  # the scene is in view, not a blank frame


def test_viewer_serves_the_scene_with_one_frustum_per_input_camera(built, tiny_scene):
    model, descriptors = built
    inputs = tiny_scene.input_indices
    live = serve_scene(LiveRenderer(model, descriptors), descriptors.points, tiny_scene.intrinsics[inputs],
                       tiny_scene.w2c[inputs], tiny_scene.height, tiny_scene.width, "127.0.0.1", free_port(),
                       render_height=32)
    viewer = live.viewer
    try:
        from shared_utils.viewer import wait_until_served

        wait_until_served(viewer)
        assert b"<html" in urllib.request.urlopen(viewer.url, timeout=5).read().lower()
        assert len(live.frustums) == len(inputs)
        centres = np.stack([np.asarray(f.position) for f in live.frustums])
        expected = invert_pose(tiny_scene.w2c[inputs].double())[:, :3, 3].numpy()
        assert np.allclose(centres, expected, atol=1e-5)
        assert not viewer.nodes["point cloud"].visible  # drawn on top it would hide the render
        assert live.clients == {}
    finally:
        viewer.server.stop()
