import numpy as np
import open3d as o3d
import pytest
import trimesh
from shared_utils.errors import InputError
from shared_utils.io import (
    PointCloud,
    read_mesh,
    read_point_cloud,
    write_line_set,
    write_mesh,
    write_point_cloud,
)


class TestMesh:
    @pytest.mark.parametrize("suffix", [".ply", ".obj"])
    def test_round_trip(self, tmp_path, suffix):
        box = trimesh.creation.box()
        colors = np.linspace(0, 1, len(box.vertices) * 3).reshape(-1, 3)
        write_mesh(tmp_path / f"m{suffix}", box.vertices, box.faces, vertex_colors=colors)
        mesh = read_mesh(tmp_path / f"m{suffix}", require_watertight=True)
        np.testing.assert_allclose(mesh.vertices, box.vertices, atol=1e-6)
        np.testing.assert_array_equal(mesh.faces, box.faces)
        np.testing.assert_allclose(mesh.visual.vertex_colors[:, :3] / 255, colors, atol=1 / 255)

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="mesh '.*a.obj' not found"):
            read_mesh(tmp_path / "a.obj")
        (tmp_path / "empty.obj").write_text("v 0 0 0\nv 1 0 0\n")
        with pytest.raises(InputError, match=r"empty.obj' is empty \(0 faces\)"):
            read_mesh(tmp_path / "empty.obj")
        (tmp_path / "bad.ply").write_bytes(b"ply\nformat garbage\n")
        with pytest.raises(InputError, match="bad.ply'"):
            read_mesh(tmp_path / "bad.ply")
        (tmp_path / "nan.obj").write_text("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
        with pytest.raises(InputError, match="nan.obj' contains NaN"):
            read_mesh(tmp_path / "nan.obj")
        (tmp_path / "open.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
        assert len(read_mesh(tmp_path / "open.obj").faces) == 1
        with pytest.raises(InputError, match="not watertight"):
            read_mesh(tmp_path / "open.obj", require_watertight=True)
        with pytest.raises(InputError, match=r"mesh faces has shape \(1, 4\)"):
            write_mesh(tmp_path / "q.ply", np.zeros((4, 3)), [[0, 1, 2, 3]])
        with pytest.raises(InputError, match="suffix"):
            write_mesh(tmp_path / "q.stl", np.zeros((3, 3)), [[0, 1, 2]])


class TestPointCloud:
    def test_round_trip(self, tmp_path, rng):
        points = rng.random((100, 3)).astype(np.float32)
        colors = np.round(rng.random((100, 3)) * 255) / 255
        normals = rng.standard_normal((100, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        write_point_cloud(tmp_path / "p.ply", points, colors=colors, normals=normals)
        assert (tmp_path / "p.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")
        cloud = read_point_cloud(tmp_path / "p.ply")
        assert isinstance(cloud, PointCloud) and cloud.points.dtype == np.float32
        np.testing.assert_allclose(cloud.points, points, atol=1e-6)
        np.testing.assert_allclose(cloud.colors, colors, atol=1e-6)
        np.testing.assert_allclose(cloud.normals, normals, atol=1e-6)
        write_point_cloud(tmp_path / "plain.ply", points)
        plain = read_point_cloud(tmp_path / "plain.ply")
        assert plain.colors is None and plain.normals is None

    def test_other_formats(self, tmp_path, rng):
        data = rng.random((10, 6))
        np.save(tmp_path / "p.npy", data)
        cloud = read_point_cloud(tmp_path / "p.npy")
        np.testing.assert_allclose(cloud.points, data[:, :3], atol=1e-6)
        np.testing.assert_allclose(cloud.colors, data[:, 3:], atol=1e-6)
        np.savetxt(tmp_path / "p.xyz", data[:, :3])
        np.testing.assert_allclose(read_point_cloud(tmp_path / "p.xyz").points, data[:, :3], atol=1e-6)

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="point cloud '.*x.ply' not found"):
            read_point_cloud(tmp_path / "x.ply")
        with pytest.raises(InputError, match=r"empty \(0 points\)"):
            write_point_cloud(tmp_path / "empty.ply", np.zeros((0, 3)))
        (tmp_path / "empty.ply").write_text(
            "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
            "end_header\n"
        )
        with pytest.raises(InputError, match="empty.ply' is empty"):
            read_point_cloud(tmp_path / "empty.ply")
        (tmp_path / "bad.ply").write_bytes(b"garbage")
        with pytest.raises(InputError, match="bad.ply'"):
            read_point_cloud(tmp_path / "bad.ply")
        np.savetxt(tmp_path / "nan.xyz", [[0, 0, np.nan], [1, 1, 1]])
        with pytest.raises(InputError, match="nan.xyz' contains NaN"):
            read_point_cloud(tmp_path / "nan.xyz")
        np.save(tmp_path / "shape.npy", np.zeros((4, 2)))
        with pytest.raises(InputError, match=r"shape.npy' has shape \(4, 2\)"):
            read_point_cloud(tmp_path / "shape.npy")
        with pytest.raises(InputError, match="point colors has shape"):
            write_point_cloud(tmp_path / "c.ply", np.zeros((3, 3)), colors=np.zeros((2, 3)))


class TestLineSet:
    def test_round_trip(self, tmp_path, rng):
        points = rng.random((4, 3))
        edges = np.array([[0, 1], [1, 2], [2, 3]])
        colors = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
        write_line_set(tmp_path / "l.ply", points, edges, colors)
        header = (tmp_path / "l.ply").read_bytes().split(b"end_header")[0]
        assert b"element vertex 4" in header and b"element edge 3" in header
        lines = o3d.io.read_line_set(str(tmp_path / "l.ply"))
        np.testing.assert_allclose(np.asarray(lines.points), points)
        np.testing.assert_array_equal(np.asarray(lines.lines), edges)
        np.testing.assert_allclose(np.asarray(lines.colors), colors)

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="outside"):
            write_line_set(tmp_path / "l.ply", np.zeros((2, 3)), [[0, 2]])
