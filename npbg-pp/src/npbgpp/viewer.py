"""``npbgpp view``: fly a camera in the browser and see NPBG++ render the built scene live.

Each connected browser gets its own render thread that always renders the latest camera it reported (older
requests are dropped, so a slow CPU lags but never queues). The render becomes the viewer's background image; the
input cameras are drawn as frustums and the point cloud can be shown on top.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from shared_utils.cameras import focal_from_fov, intrinsics_matrix, invert_pose
from shared_utils.viewer import Viewer

from npbgpp.models.npbgpp import NPBGPP, PointDescriptors

DEFAULT_RENDER_HEIGHT = 256
FRUSTUM_RGB = (40, 90, 220)


def camera_from_viewer(position, wxyz, fov_y: float, aspect: float, height: int
                       ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """OpenCV ``intrinsics`` (3, 3), ``w2c`` (4, 4) and the image size for a viser camera: ``wxyz`` and
    ``position`` are its camera-to-world rotation and centre (viser follows OpenCV: +z forward, +y down),
    ``fov_y`` its vertical field of view in radians, ``aspect`` width / height."""
    width = max(int(round(height * aspect)), 1)
    focal = focal_from_fov(float(fov_y), height)
    intrinsics = intrinsics_matrix(focal, focal, width / 2.0, height / 2.0).float()
    w, x, y, z = (float(v) for v in wxyz)
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3] = torch.from_numpy(Rotation.from_quat([x, y, z, w]).as_matrix())
    c2w[:3, 3] = torch.as_tensor(np.asarray(position, dtype=np.float64))
    return intrinsics, invert_pose(c2w).float(), height, width


def viewer_pose(w2c: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(wxyz, position)`` of an OpenCV world-to-camera pose, in viser's form."""
    c2w = invert_pose(w2c.double()).numpy()
    x, y, z, w = Rotation.from_matrix(c2w[:3, :3]).as_quat()
    return np.array([w, x, y, z]), c2w[:3, 3]


class LiveRenderer:
    """NPBG++ renders of one built scene for arbitrary cameras, as (H, W, 3) uint8 images."""

    def __init__(self, model: NPBGPP, descriptors: PointDescriptors):
        self.model, self.descriptors = model.eval(), descriptors
        self._lock = threading.Lock()  # one render at a time: the model is shared by every client

    def render(self, intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int) -> np.ndarray:
        with self._lock, torch.inference_mode():
            image = self.model.render(self.descriptors, intrinsics[None], w2c[None], height, width)[0]
        return (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


class _ClientLoop:
    """The latest camera of one browser and the thread that renders it."""

    def __init__(self, client, renderer: LiveRenderer, height, on_first_render):
        self.client, self.renderer, self.height = client, renderer, height
        self.on_first_render = on_first_render
        self.pending = threading.Event()
        self.closed = threading.Event()
        self.renders = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.closed.is_set():
            if not self.pending.wait(0.2):
                continue
            self.pending.clear()
            camera = self.client.camera
            intrinsics, w2c, height, width = camera_from_viewer(camera.position, camera.wxyz, camera.fov,
                                                                camera.aspect, int(self.height()))
            start = time.perf_counter()
            image = self.renderer.render(intrinsics, w2c, height, width)
            seconds = time.perf_counter() - start
            self.client.scene.set_background_image(image, format="jpeg", jpeg_quality=90)
            self.renders += 1
            if self.renders == 1:
                self.on_first_render(self.client.client_id, image, seconds)


@dataclass
class LiveView:
    """The server, the input cameras' frustums and each connected browser's render loop (by client id)."""

    viewer: Viewer
    frustums: list
    clients: dict = field(default_factory=dict)


def serve_scene(renderer: LiveRenderer, points: torch.Tensor, intrinsics: torch.Tensor, w2c: torch.Tensor,
                height: int, width: int, host: str, port: int, render_height: int = DEFAULT_RENDER_HEIGHT,
                max_points_shown: int = 200_000) -> LiveView:
    """A viewer of the built scene (input cameras, point cloud hidden at first) that renders every browser's
    camera."""
    viewer = Viewer(host, port)
    gui = viewer.server.gui
    resolution = gui.add_slider("render height (px)", min=32, max=1024, step=16, initial_value=render_height)
    cloud = points.numpy()
    if len(cloud) > max_points_shown:
        cloud = cloud[np.random.default_rng(0).choice(len(cloud), max_points_shown, replace=False)]
    viewer.add_points("point cloud", cloud, (0.35, 0.35, 0.35), visible=False)  # it would hide the render
    scale = 0.05 * float(np.linalg.norm(cloud.max(0) - cloud.min(0)))
    frustums = []
    for index, (k, pose) in enumerate(zip(intrinsics, w2c, strict=True)):
        wxyz, position = viewer_pose(pose)
        fov_y = 2.0 * float(np.arctan(height / (2.0 * float(k[1, 1]))))
        frustums.append(viewer.server.scene.add_camera_frustum(
            f"/inputs/{index}", fov=fov_y, aspect=width / height, scale=scale, wxyz=wxyz, position=position,
            color=FRUSTUM_RGB))
    show_cameras = gui.add_checkbox("input cameras", initial_value=True)

    @show_cameras.on_update
    def _(_event) -> None:
        for frustum in frustums:
            frustum.visible = show_cameras.value

    live = LiveView(viewer, frustums)
    loops = live.clients
    start_wxyz, start_position = viewer_pose(w2c[0])
    fov_y = 2.0 * float(np.arctan(height / (2.0 * float(intrinsics[0, 1, 1]))))

    def first_render(client_id: int, image: np.ndarray, seconds: float) -> None:
        print(f"client {client_id}: first render {image.shape[1]}x{image.shape[0]} in {1000 * seconds:.0f} ms",
              flush=True)

    @viewer.server.on_client_connect
    def _(client) -> None:
        client.camera.fov = fov_y
        client.camera.wxyz = start_wxyz
        client.camera.position = start_position
        loop = _ClientLoop(client, renderer, lambda: resolution.value, first_render)
        loops[client.client_id] = loop
        client.camera.on_update(lambda _camera: loop.pending.set())
        resolution.on_update(lambda _event: loop.pending.set())
        loop.pending.set()

    @viewer.server.on_client_disconnect
    def _(client) -> None:
        loop = loops.pop(client.client_id, None)
        if loop is not None:
            loop.closed.set()

    return live
