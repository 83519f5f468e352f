import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from shared_utils.errors import InputError
from shared_utils.io import (
    read_colmap_text,
    read_nerf_transforms,
    read_neus_cameras,
    read_scannet_style,
    write_image,
    write_neus_cameras,
)
from shared_utils.io.camera_formats import DistortionWarning


def random_w2c(rng, n):
    w2c = np.tile(np.eye(4), (n, 1, 1))
    w2c[:, :3, :3] = Rotation.random(n, random_state=1).as_matrix()
    w2c[:, :3, 3] = rng.standard_normal((n, 3))
    return w2c


def random_K(rng, n):
    K = np.tile(np.eye(3), (n, 1, 1))
    K[:, 0, 0], K[:, 1, 1] = 300 + 50 * rng.random(n), 310 + 50 * rng.random(n)
    K[:, 0, 2], K[:, 1, 2] = 160 + rng.random(n), 120 + rng.random(n)
    return K


class TestNeuS:
    def test_world_mat_decomposition(self, tmp_path, rng):
        K, w2c = random_K(rng, 3), random_w2c(rng, 3)
        arrays = {}
        for i in range(3):
            world = np.eye(4)
            world[:3] = 2.5 * K[i] @ w2c[i, :3]  # projection matrices are defined up to scale
            arrays[f"world_mat_{i}"] = world
        np.savez(tmp_path / "cameras.npz", **arrays)
        cams = read_neus_cameras(tmp_path / "cameras.npz")
        np.testing.assert_allclose(cams.intrinsics, K, atol=1e-8)
        np.testing.assert_allclose(cams.c2w, np.linalg.inv(w2c), atol=1e-8)
        np.testing.assert_allclose(cams.scale_mats, np.tile(np.eye(4), (3, 1, 1)))

    def test_write_round_trip(self, tmp_path, rng):
        K, w2c = random_K(rng, 2), random_w2c(rng, 2)
        scale = np.tile(np.diag([2.0, 2.0, 2.0, 1.0]), (2, 1, 1))
        write_neus_cameras(tmp_path / "cameras_sphere.npz", K, w2c, scale)
        cams = read_neus_cameras(tmp_path / "cameras_sphere.npz")
        np.testing.assert_allclose(cams.intrinsics, K, atol=1e-8)
        np.testing.assert_allclose(cams.c2w, np.linalg.inv(w2c), atol=1e-8)
        np.testing.assert_allclose(cams.scale_mats, scale)
        with np.load(tmp_path / "cameras_sphere.npz") as data:
            assert sorted(data.files) == ["scale_mat_0", "scale_mat_1", "world_mat_0", "world_mat_1"]

    def test_exception(self, tmp_path, rng):
        with pytest.raises(InputError, match="x.npz' not found"):
            read_neus_cameras(tmp_path / "x.npz")
        (tmp_path / "bad.npz").write_bytes(b"garbage")
        with pytest.raises(InputError, match="bad.npz' is not a readable"):
            read_neus_cameras(tmp_path / "bad.npz")
        np.savez(tmp_path / "none.npz", other=np.eye(4))
        with pytest.raises(InputError, match="none.npz' has no world_mat"):
            read_neus_cameras(tmp_path / "none.npz")
        np.savez(tmp_path / "nan.npz", world_mat_0=np.full((4, 4), np.nan))
        with pytest.raises(InputError, match="world_mat_0 in '.*nan.npz' contains NaN"):
            read_neus_cameras(tmp_path / "nan.npz")
        np.savez(tmp_path / "shape.npz", world_mat_0=np.eye(3))
        with pytest.raises(InputError, match=r"world_mat_0 in '.*shape.npz' has shape \(3, 3\)"):
            read_neus_cameras(tmp_path / "shape.npz")
        np.savez(tmp_path / "scale.npz", world_mat_0=np.eye(4), scale_mat_0=np.eye(3))
        with pytest.raises(InputError, match="scale_mat_0 in '.*scale.npz' has shape"):
            read_neus_cameras(tmp_path / "scale.npz")


class TestNerfTransforms:
    def _write(self, path, frames, **meta):
        path.write_text(json.dumps({**meta, "frames": frames}))
        return path

    def test_blender_round_trip(self, tmp_path, rng):
        c2w_cv = np.linalg.inv(random_w2c(rng, 2))
        c2w_gl = c2w_cv.copy()
        c2w_gl[:, :3, 1:3] *= -1
        frames = [{"file_path": f"./train/r_{i}", "transform_matrix": c2w_gl[i].tolist()} for i in range(2)]
        path = self._write(tmp_path / "transforms_train.json", frames, camera_angle_x=0.6911112070083618)
        cams = read_nerf_transforms(path, width=800, height=800)
        np.testing.assert_allclose(cams.c2w, c2w_cv)
        focal = 400 / np.tan(0.5 * 0.6911112070083618)
        np.testing.assert_allclose(cams.intrinsics[0], [[focal, 0, 400], [0, focal, 400], [0, 0, 1]])
        assert cams.image_paths == [tmp_path / "train" / "r_0.png", tmp_path / "train" / "r_1.png"]
        assert (cams.width, cams.height) == (800, 800)

    def test_size_from_first_image(self, tmp_path):
        write_image(tmp_path / "a.png", np.zeros((6, 10, 3)))
        path = self._write(tmp_path / "t.json", [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}],
                           camera_angle_x=1.0)
        cams = read_nerf_transforms(path)
        assert (cams.width, cams.height) == (10, 6)
        assert cams.intrinsics[0, 0, 2] == 5.0 and cams.intrinsics[0, 1, 2] == 3.0

    def test_explicit_intrinsics(self, tmp_path):
        frames = [{"file_path": "a.jpg", "transform_matrix": np.eye(4).tolist()},
                  {"file_path": "b.jpg", "transform_matrix": np.eye(4).tolist(), "fl_x": 50.0}]
        path = self._write(tmp_path / "t.json", frames, fl_x=100.0, fl_y=110.0, cx=30.0, cy=20.0, w=64, h=48)
        cams = read_nerf_transforms(path)
        np.testing.assert_allclose(cams.intrinsics[0], [[100, 0, 30], [0, 110, 20], [0, 0, 1]])
        assert cams.intrinsics[1, 0, 0] == 50.0
        assert cams.image_paths[0] == tmp_path / "a.jpg"

    def test_distortion_is_kept_and_warned_about(self, tmp_path):
        frames = [{"file_path": "a.jpg", "transform_matrix": np.eye(4).tolist()},
                  {"file_path": "b.jpg", "transform_matrix": np.eye(4).tolist(), "k1": 0.0}]
        path = self._write(tmp_path / "t.json", frames, fl_x=100.0, w=64, h=48, k1=-0.1, p2=0.002)
        with pytest.warns(DistortionWarning, match=r"lens distortion \(k1, p2\)"):
            cams = read_nerf_transforms(path)
        np.testing.assert_allclose(cams.distortion, [[-0.1, 0, 0, 0, 0, 0.002], [0.0, 0, 0, 0, 0, 0.002]])

    def test_no_distortion_no_warning(self, tmp_path, recwarn):
        path = self._write(tmp_path / "t.json", [{"file_path": "a.jpg", "transform_matrix": np.eye(4).tolist()}],
                           fl_x=100.0, w=64, h=48, k1=0.0)
        assert read_nerf_transforms(path).distortion is None
        assert not [w for w in recwarn if issubclass(w.category, DistortionWarning)]

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="t.json' not found"):
            read_nerf_transforms(tmp_path / "t.json")
        (tmp_path / "bad.json").write_text("{")
        with pytest.raises(InputError, match="bad.json' is corrupt"):
            read_nerf_transforms(tmp_path / "bad.json")
        path = self._write(tmp_path / "empty.json", [])
        with pytest.raises(InputError, match="empty.json' has no 'frames'"):
            read_nerf_transforms(path)
        path = self._write(tmp_path / "nan.json", [{"file_path": "a", "transform_matrix": [[float("nan")] * 4] * 4}],
                           camera_angle_x=1.0)
        with pytest.raises(InputError, match="transform_matrix of frame 0 in '.*nan.json' contains NaN"):
            read_nerf_transforms(path, 8, 8)
        path = self._write(tmp_path / "shape.json", [{"file_path": "a", "transform_matrix": [[1, 0, 0]]}])
        with pytest.raises(InputError, match=r"shape.json' has shape \(1, 3\)"):
            read_nerf_transforms(path, 8, 8)
        path = self._write(tmp_path / "nosize.json", [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}],
                           camera_angle_x=1.0)
        with pytest.raises(InputError, match="nosize.json' gives no image size"):
            read_nerf_transforms(path)
        path = self._write(tmp_path / "nofocal.json", [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}])
        with pytest.raises(InputError, match="nofocal.json' has neither 'fl_x' nor 'camera_angle_x'"):
            read_nerf_transforms(path, 8, 8)


COLMAP_CAMERAS = """# Camera list with one line of data per camera:
#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]
1 PINHOLE 640 480 500.0 510.0 320.5 240.5
2 SIMPLE_RADIAL 320 240 250.0 160.0 120.0 0.0
3 OPENCV 100 80 90.0 91.0 50.0 40.0 0.1 0.0 0.0 0.0
"""


class TestColmap:
    def _write(self, folder, rng, cameras=COLMAP_CAMERAS):
        folder.mkdir(exist_ok=True)
        (folder / "cameras.txt").write_text(cameras)
        w2c = random_w2c(rng, 3)
        lines = ["# Image list with two lines of data per image:"]
        for i, cam in enumerate([1, 2, 3]):
            qx, qy, qz, qw = Rotation.from_matrix(w2c[i, :3, :3]).as_quat()
            t = w2c[i, :3, 3]
            lines.append(f"{i + 1} {qw} {qx} {qy} {qz} {t[0]} {t[1]} {t[2]} {cam} image {i}.jpg")
            lines.append("" if i == 1 else "10.0 20.0 -1 30.0 40.0 5")
        (folder / "images.txt").write_text("\n".join(lines) + "\n")
        return w2c

    def test_round_trip(self, tmp_path, rng):
        w2c = self._write(tmp_path / "sparse", rng)
        with pytest.warns(UserWarning, match="OPENCV"):
            model = read_colmap_text(tmp_path / "sparse")
        np.testing.assert_allclose(model.intrinsics[1], [[500, 0, 320.5], [0, 510, 240.5], [0, 0, 1]])
        np.testing.assert_allclose(model.intrinsics[2], [[250, 0, 160], [0, 250, 120], [0, 0, 1]])
        np.testing.assert_allclose(model.intrinsics[3][:2, :3], [[90, 0, 50], [0, 91, 40]])
        assert model.sizes == {1: (640, 480), 2: (320, 240), 3: (100, 80)}
        assert [(name, cam) for name, cam, _ in model.images] == [("image 0.jpg", 1), ("image 1.jpg", 2),
                                                                  ("image 2.jpg", 3)]
        np.testing.assert_allclose(np.stack([m for _, _, m in model.images]), w2c, atol=1e-10)

    @pytest.mark.filterwarnings("ignore:.*distortion")
    def test_exception(self, tmp_path, rng):
        with pytest.raises(InputError, match="not found"):
            read_colmap_text(tmp_path / "none")
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / "cameras.txt").write_text(COLMAP_CAMERAS)
        with pytest.raises(InputError, match="images.txt' not found"):
            read_colmap_text(tmp_path / "half")
        self._write(tmp_path / "model", rng, "1 FISHEYE_X 1 1 1\n")
        with pytest.raises(InputError, match="line 1 of '.*cameras.txt' is not a supported camera"):
            read_colmap_text(tmp_path / "model")
        self._write(tmp_path / "nan", rng, "1 PINHOLE 1 1 nan 1 1 1\n2 PINHOLE 1 1 1 1 1 1\n3 PINHOLE 1 1 1 1 1 1\n")
        with pytest.raises(InputError, match="camera 1 in '.*cameras.txt' contains NaN"):
            read_colmap_text(tmp_path / "nan")
        self._write(tmp_path / "missing_cam", rng, "1 PINHOLE 1 1 1 1 1 1\n")
        with pytest.raises(InputError, match="refers to camera 2"):
            read_colmap_text(tmp_path / "missing_cam")
        (tmp_path / "model" / "cameras.txt").write_text(COLMAP_CAMERAS)
        (tmp_path / "model" / "images.txt").write_text("1 a b c\n\n")
        with pytest.raises(InputError, match="line 1 of '.*images.txt' is not an image record"):
            read_colmap_text(tmp_path / "model")


class TestScanNetStyle:
    def test_round_trip(self, tmp_path, rng):
        K, w2c = random_K(rng, 1)[0], random_w2c(rng, 4)
        np.save(tmp_path / "intrinsics.npy", {"K": K, "height": 480, "width": 640})
        np.save(tmp_path / "extrinsics.npy", w2c)
        cams = read_scannet_style(tmp_path)
        np.testing.assert_allclose(cams.intrinsics, K)
        np.testing.assert_allclose(cams.w2c, w2c)
        assert (cams.width, cams.height) == (640, 480)
        np.save(tmp_path / "extrinsics.npy", w2c[:, :3])
        np.testing.assert_allclose(read_scannet_style(tmp_path).w2c, w2c)

    def test_exception(self, tmp_path, rng):
        with pytest.raises(InputError, match="intrinsics.npy' not found"):
            read_scannet_style(tmp_path)
        np.save(tmp_path / "intrinsics.npy", {"K": np.eye(3)})
        with pytest.raises(InputError, match="intrinsics.npy' must hold a dict"):
            read_scannet_style(tmp_path)
        np.save(tmp_path / "intrinsics.npy", {"K": np.eye(3), "height": 2, "width": 2})
        with pytest.raises(InputError, match="extrinsics.npy' not found"):
            read_scannet_style(tmp_path)
        np.save(tmp_path / "extrinsics.npy", np.zeros((2, 3, 3)))
        with pytest.raises(InputError, match=r"extrinsics in '.*extrinsics.npy' has shape \(2, 3, 3\)"):
            read_scannet_style(tmp_path)
        np.save(tmp_path / "extrinsics.npy", np.full((2, 4, 4), np.nan))
        with pytest.raises(InputError, match="contains NaN"):
            read_scannet_style(tmp_path)
        (tmp_path / "extrinsics.npy").write_bytes(b"garbage")
        with pytest.raises(InputError, match="extrinsics.npy' could not be read"):
            read_scannet_style(tmp_path)
