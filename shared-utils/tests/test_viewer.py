"""The browser viewer (viser): every kind of 3D file becomes a toggled node, the distance slider recolours and
filters exactly the points within it, coordinates survive viser's float16 transport, and the page is served."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import open3d as o3d
import pytest
import trimesh
from shared_utils.errors import InputError
from shared_utils.io.geometry import write_line_set, write_mesh, write_point_cloud
from shared_utils.run import RunDir

viewer_module = pytest.importorskip("shared_utils.viewer")
pytest.importorskip("viser", reason="viser is not installed (pip install 'shared-utils[view]')")
Viewer, view_files, run_files = viewer_module.Viewer, viewer_module.view_files, viewer_module.run_files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def viewer():
    v = Viewer(port=free_port())
    yield v
    v.server.stop()


def write_distance_cloud(path, points, distance) -> None:
    cloud = o3d.t.geometry.PointCloud(o3d.core.Tensor(points.astype(np.float32)))
    cloud.point["distance"] = o3d.core.Tensor(distance.astype(np.float32)[:, None])
    o3d.t.io.write_point_cloud(str(path), cloud)


# --- distance_colors ----------------------------------------------------------------------------------------------

def test_distance_colors_mark_exactly_the_points_within_the_threshold():
    distance = np.array([0.0, 0.05, 0.1, 0.2, 1.0])
    colors = viewer_module.distance_colors(distance, 0.1)
    red = (colors == viewer_module.FEATURE_RGB).all(axis=1)
    assert red.tolist() == [True, True, True, False, False]
    assert colors.dtype == np.uint8 and colors.shape == (5, 3)
    # far points get a shade that grows with the distance
    assert colors[4].astype(int).sum() > colors[3].astype(int).sum()


# --- Viewer -------------------------------------------------------------------------------------------------------

def test_serves_the_bundled_client_over_http(viewer):
    viewer_module.wait_until_served(viewer)
    page = urllib.request.urlopen(viewer.url, timeout=5).read().decode()
    assert "<html" in page.lower() and viewer.url.startswith("http://127.0.0.1:")


def test_points_keep_their_coordinates_through_float16(viewer):
    rng = np.random.default_rng(0)
    points = 1000.0 + rng.random((500, 3))  # float16 alone would keep only ~0.5 here
    handle = viewer.add_points("cloud", points)
    shown = np.asarray(handle.points, dtype=np.float64) + np.asarray(handle.position)
    assert np.abs(shown - points).max() < 1e-3


def test_distance_slider_and_hide_switch_filter_exactly(viewer):
    rng = np.random.default_rng(1)
    points = rng.random((400, 3))
    distance = rng.random(400)
    view = viewer.add_distance_points("field", points, distance, threshold=0.25)
    assert len(view.handle.points) == 400
    assert (view.handle.colors == viewer_module.FEATURE_RGB).all(axis=1).sum() == (distance <= 0.25).sum()
    view.hide_others.value = True
    view.redraw()
    assert len(view.handle.points) == (distance <= 0.25).sum()
    view.slider.value = 0.6
    view.redraw()
    assert len(view.handle.points) == (distance <= 0.6).sum()
    assert (view.handle.colors == viewer_module.FEATURE_RGB).all()


def test_hiding_everything_keeps_the_nearest_point(viewer):
    view = viewer.add_distance_points("field", np.eye(3), np.array([0.5, 0.7, 0.9]), threshold=0.1)
    view.hide_others.value = True
    view.slider.value = 0.0
    view.redraw()
    assert len(view.handle.points) == 1


def test_every_node_has_a_visibility_switch(viewer):
    viewer.add_points("a", np.zeros((2, 3)))
    viewer.add_points("b", np.ones((2, 3)), visible=False)
    assert viewer.nodes["a"].visible and not viewer.nodes["b"].visible


def test_wrong_shapes_are_input_errors(viewer):
    with pytest.raises(InputError, match="expected points"):
        viewer.add_points("x", np.zeros((4, 2)))
    with pytest.raises(InputError, match="3 distances for 2 points"):
        viewer.add_distance_points("x", np.zeros((2, 3)), np.zeros(3), 0.1)


# --- add_file / view_files / run_files -----------------------------------------------------------------------------

def test_each_file_kind_becomes_its_node(tmp_path, viewer):
    rng = np.random.default_rng(2)
    write_distance_cloud(tmp_path / "field.ply", rng.random((50, 3)), rng.random(50))
    write_point_cloud(tmp_path / "plain.ply", rng.random((30, 3)), colors=rng.random((30, 3)))
    box = trimesh.creation.box()
    write_mesh(tmp_path / "box.ply", box.vertices, box.faces, vertex_colors=np.ones((8, 3)) * 0.5)
    write_line_set(tmp_path / "curves.ply", rng.random((4, 3)), [[0, 1], [2, 3]], colors=[[1, 0, 0], [0, 1, 0]])
    field = viewer.add_file(tmp_path / "field.ply", threshold=0.5)
    assert isinstance(field, viewer_module.DistanceView) and field.slider.value == pytest.approx(0.5, abs=1e-3)
    assert len(viewer.add_file(tmp_path / "plain.ply").points) == 30
    viewer.add_file(tmp_path / "box.ply")
    lines = viewer.add_file(tmp_path / "curves.ply")
    assert np.asarray(lines.points).shape == (2, 2, 3)
    assert sorted(viewer.nodes) == ["box.ply", "curves.ply", "field.ply", "plain.ply"]


def test_missing_and_broken_files_are_input_errors(tmp_path, viewer):
    with pytest.raises(InputError, match="not found"):
        viewer.add_file(tmp_path / "nothing.ply")
    (tmp_path / "text.ply").write_text("not a ply")
    with pytest.raises(InputError, match="text.ply"):
        viewer.add_file(tmp_path / "text.ply")


def test_view_files_needs_at_least_one_file():
    with pytest.raises(InputError, match="nothing to view"):
        view_files([], port=free_port())


def test_run_files_lists_the_runs_3d_files_only(tmp_path):
    run = RunDir(tmp_path / "run").create()
    write_point_cloud(run.pictures / "cloud.ply", np.random.default_rng(3).random((10, 3)))
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    (run.checkpoints / "skipped.ply").write_bytes((run.pictures / "cloud.ply").read_bytes())
    (run.pictures / "grid.png").write_bytes(b"")
    assert [p.name for p in run_files(run.path)] == ["cloud.ply"]


def test_run_files_refuses_a_run_without_3d_results_or_a_missing_folder(tmp_path):
    run = RunDir(tmp_path / "run").create()
    with pytest.raises(InputError, match="no mesh, point cloud or line set"):
        run_files(run.path)
    with pytest.raises(InputError, match="not found"):
        run_files(tmp_path / "absent")
