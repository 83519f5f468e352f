"""A local browser viewer for 3D results larger than a report page should hold (viser, which serves its own client
from the installed package: no network).

Point clouds that carry a per-point distance get a threshold slider (points within it are drawn red) and a
"hide the rest" switch; meshes keep their vertex colours; line sets (curves, camera frustums) are drawn as segments.
Every file is a node that a checkbox in the side panel shows or hides. ``view_run`` shows every 3D file of a run
folder; members add their own nodes (a render callback, cameras) through :class:`Viewer`.
"""

from __future__ import annotations

import argparse
import pathlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
FEATURE_RGB = np.array([230, 30, 30], dtype=np.uint8)


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to serve on (default {DEFAULT_HOST}; 0.0.0.0 to reach it from another machine)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")


def _viser():
    try:
        import viser
    except ImportError as exc:
        raise InputError("the 3D viewer needs the 'viser' package: pip install 'shared-utils[view]'") from exc
    return viser


def _uint8_colors(colors, count: int) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.dtype != np.uint8:
        colors = (np.clip(colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.broadcast_to(colors[..., :3], (count, 3)).copy()


def _shade(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Grey (near) to pale blue (far) by value: the background against which red feature points stand out."""
    t = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)[:, None]
    near, far = np.array([110.0, 110.0, 110.0]), np.array([170.0, 200.0, 235.0])
    return (near + t * (far - near)).astype(np.uint8)


def distance_colors(distance: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 3) uint8: red where ``distance <= threshold``, a grey-to-blue shade of the distance elsewhere."""
    colors = _shade(distance, 0.0, float(np.max(distance)) if len(distance) else 1.0)
    colors[distance <= threshold] = FEATURE_RGB
    return colors


@dataclass
class DistanceView:
    """A cloud coloured by distance and its controls; ``redraw()`` applies the controls' current values."""

    handle: object
    slider: object
    hide_others: object
    redraw: Callable[[], None]


class Viewer:
    """One viser server; ``url`` is where a browser opens it. Points are sent as float16 by viser, so every node
    is placed at its centre and carries coordinates relative to it (keeps sub-millimetre precision on metre-sized
    scenes)."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        viser = _viser()
        try:
            self.server = viser.ViserServer(host=host, port=port, verbose=False)
        except OSError as exc:
            raise InputError(f"cannot serve the viewer on {host}:{port} ({exc.strerror or exc})") from exc
        self.server.gui.configure_theme(control_width="large")
        self.nodes: dict[str, object] = {}
        self._low = np.full(3, np.inf)
        self._high = np.full(3, -np.inf)
        self.server.on_client_connect(lambda client: print(f"browser connected (client {client.client_id})",
                                                           flush=True))

    @property
    def url(self) -> str:
        host = self.server.get_host()
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.server.get_port()}"

    def _note_extent(self, points: np.ndarray) -> np.ndarray:
        """Grow the scene's bounding box by ``points``; return their own box centre (the node's position)."""
        low, high = points.min(0), points.max(0)
        self._low, self._high = np.minimum(self._low, low), np.maximum(self._high, high)
        return (low + high) / 2.0

    def _toggle(self, label: str, handle, visible: bool = True) -> None:
        handle.visible = visible
        box = self.server.gui.add_checkbox(label, initial_value=visible)

        @box.on_update
        def _(_event) -> None:
            handle.visible = box.value

        self.nodes[label] = handle

    def _point_size(self, points: np.ndarray) -> float:
        extent = float(np.linalg.norm(points.max(0) - points.min(0)))
        # about a point spacing for a surface sampled with len(points) points
        return max(extent / max(np.sqrt(len(points)), 1.0) * 0.5, 1e-6)

    def add_points(self, label: str, points: np.ndarray, colors=None, point_size: float | None = None,
                   visible: bool = True):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise InputError(f"'{label}': expected points (N, 3) with N >= 1, got {points.shape}")
        centre = self._note_extent(points)
        colors = _uint8_colors((0.4, 0.4, 0.4) if colors is None else colors, len(points))
        handle = self.server.scene.add_point_cloud(
            f"/{len(self.nodes)}", (points - centre).astype(np.float32), colors,
            point_size=point_size or self._point_size(points), point_shape="circle", position=tuple(centre))
        self._toggle(label, handle, visible)
        return handle

    def add_distance_points(self, label: str, points: np.ndarray, distance: np.ndarray, threshold: float,
                            unit: str = "") -> DistanceView:
        """Points coloured by a per-point distance with a threshold slider and a switch hiding the far points."""
        points, distance = np.asarray(points, dtype=np.float64), np.asarray(distance, dtype=np.float64).reshape(-1)
        if len(distance) != len(points):
            raise InputError(f"'{label}': {len(distance)} distances for {len(points)} points")
        handle = self.add_points(label, points, distance_colors(distance, threshold))
        centre = np.asarray(handle.position)
        top = float(np.max(distance)) if np.max(distance) > 0 else 1.0
        with self.server.gui.add_folder(f"{label}: distance"):
            slider = self.server.gui.add_slider(f"feature if ≤ {unit}".strip(), min=0.0, max=top,
                                                step=top / 1000.0, initial_value=min(threshold, top))
            hide_others = self.server.gui.add_checkbox("hide the other points", initial_value=False)

        def redraw(_event=None) -> None:
            near = distance <= slider.value
            chosen = near if hide_others.value else np.ones(len(points), dtype=bool)
            if not chosen.any():  # viser needs at least one point: keep the nearest
                chosen = distance == distance.min()
            handle.points = (points[chosen] - centre).astype(np.float16)
            handle.colors = distance_colors(distance[chosen], slider.value)

        slider.on_update(redraw)
        hide_others.on_update(redraw)
        return DistanceView(handle, slider, hide_others, redraw)

    def add_mesh(self, label: str, mesh):
        """A trimesh mesh with its vertex or face colours (light grey when it has none)."""
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        centre = self._note_extent(vertices)
        moved = mesh.copy()
        moved.vertices = vertices - centre
        handle = self.server.scene.add_mesh_trimesh(f"/{len(self.nodes)}", moved, position=tuple(centre))
        self._toggle(label, handle)
        return handle

    def add_lines(self, label: str, points: np.ndarray, edges: np.ndarray, colors=None, line_width: float = 2.0):
        """Segments ``points[edges[:, 0]] -> points[edges[:, 1]]``, coloured per edge (black by default)."""
        points, edges = np.asarray(points, dtype=np.float64), np.asarray(edges, dtype=np.int64)
        centre = self._note_extent(points)
        segments = (points - centre)[edges].astype(np.float32)
        per_edge = _uint8_colors((0.0, 0.0, 0.0) if colors is None else colors, len(edges))
        handle = self.server.scene.add_line_segments(
            f"/{len(self.nodes)}", segments, np.repeat(per_edge[:, None, :], 2, axis=1), line_width=line_width,
            position=tuple(centre))
        self._toggle(label, handle)
        return handle

    def add_file(self, path, label: str | None = None, threshold: float | None = None, unit: str = ""):
        """A mesh, point cloud or line set file. A cloud with a per-point scalar (e.g. ``distance``) gets the
        threshold slider; ``threshold`` defaults to a tenth of its largest value."""
        from .io.geometry import read_line_set, read_mesh, read_point_cloud, read_point_scalars
        from .report.scenes import kind_of, scalar_fields

        path = pathlib.Path(path)
        label = label or path.name
        if not path.is_file():
            raise InputError(f"3D file '{path}' not found")
        kind = kind_of(path)
        if kind == "mesh":
            return self.add_mesh(label, read_mesh(path))
        if kind == "lines":
            return self.add_lines(label, *read_line_set(path))
        cloud = read_point_cloud(path)
        scalars = scalar_fields(path)
        if scalars:
            values = read_point_scalars(path, scalars[0])
            return self.add_distance_points(label, cloud.points, values,
                                            float(values.max()) / 10.0 if threshold is None else threshold, unit)
        return self.add_points(label, cloud.points, cloud.colors)

    def frame_all(self, up=(0.0, 0.0, 1.0)) -> None:
        """Initial camera of newly connected browsers: looking at the scene's centre from far enough to see all of
        it, world ``up`` pointing up on screen."""
        if not np.isfinite(self._low).all():
            return
        centre = (self._low + self._high) / 2.0
        distance = max(float(np.linalg.norm(self._high - self._low)), 1e-3) * 1.1
        up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        side = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
        direction = -side / np.linalg.norm(side) + 0.5 * up  # for z up: from -y, the front of the heads
        eye = centre + distance * direction / np.linalg.norm(direction)

        @self.server.on_client_connect
        def _(client) -> None:
            client.camera.up_direction = tuple(up)
            client.camera.position = tuple(eye)
            client.camera.look_at = tuple(centre)

    def serve_forever(self, stop: threading.Event | None = None) -> None:
        """Block until Ctrl-C (or ``stop`` is set), then shut the server down."""
        print(f"viewer at {self.url} (Ctrl-C to stop)", flush=True)
        stop = stop or threading.Event()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.server.stop()


def view_files(files, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, threshold: float | None = None,
               unit: str = "") -> Viewer:
    """A viewer holding ``files`` (labels: their names); raise ``InputError`` when none is given."""
    files = [pathlib.Path(f) for f in files]
    if not files:
        raise InputError("nothing to view: no mesh, point cloud or line set was given")
    viewer = Viewer(host, port)
    try:
        for path in files:
            viewer.add_file(path, threshold=threshold, unit=unit)
    except BaseException:
        viewer.server.stop()
        raise
    viewer.frame_all()
    return viewer


def run_files(run_path) -> list[pathlib.Path]:
    """The 3D files of a run folder (meshes, clouds, line sets outside checkpoints/ and logs/), sorted."""
    from .report.scenes import find_scenes
    from .run import RunDir

    run = RunDir(run_path)
    if not run.path.is_dir():
        raise InputError(f"run folder '{run.path}' not found")
    files = [path for scene in find_scenes(run.path, run.pictures) for path in scene.files]
    if not files:
        raise InputError(f"run folder '{run.path}' holds no mesh, point cloud or line set to view")
    return files


def wait_until_served(viewer: Viewer, timeout: float = 10.0) -> None:
    """Return once the viewer answers HTTP (for tests and scripts that open it right away)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(viewer.url, timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
