
import numpy as np
import pytest
import torch
from shared_utils.errors import InputError
from shared_utils.io import (
    atomic_torch_save,
    atomic_write,
    colorize,
    image_grid,
    load_json,
    markdown_table,
    read_image,
    read_video,
    replace_generated_block,
    save_json,
    write_image,
    write_markdown,
    write_video,
)


class TestAtomicWrite:
    def test_smoke_creates_parents(self, tmp_path):
        with atomic_write(tmp_path / "a" / "b.txt", "w") as f:
            f.write("hello")
        assert (tmp_path / "a" / "b.txt").read_text() == "hello"
        assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]

    def test_no_partial_file_when_writer_raises(self, tmp_path):
        path = tmp_path / "out.bin"
        with pytest.raises(RuntimeError), atomic_write(path) as f:
            f.write(b"partial")
            raise RuntimeError("crash")
        assert list(tmp_path.iterdir()) == []

    def test_old_content_survives_failure(self, tmp_path):
        path = tmp_path / "out.json"
        save_json({"a": 1}, path)
        with pytest.raises(TypeError):
            save_json({"a": object()}, path)
        assert load_json(path) == {"a": 1}
        assert list(tmp_path.iterdir()) == [path]


class TestJson:
    def test_numpy_round_trip(self, tmp_path):
        save_json({"x": np.float32(1.5), "arr": np.arange(3), "t": torch.tensor([1.0])}, tmp_path / "a.json")
        assert load_json(tmp_path / "a.json") == {"x": 1.5, "arr": [0, 1, 2], "t": [1.0]}
        assert (tmp_path / "a.json").read_text().startswith('{\n  "x"')

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="missing.json' not found"):
            load_json(tmp_path / "missing.json")
        (tmp_path / "bad.json").write_text("{")
        with pytest.raises(InputError, match="bad.json' is corrupt"):
            load_json(tmp_path / "bad.json")


class TestTorchSave:
    def test_round_trip(self, tmp_path):
        atomic_torch_save({"w": torch.arange(3)}, tmp_path / "c" / "x.pt")
        assert torch.load(tmp_path / "c" / "x.pt")["w"].tolist() == [0, 1, 2]


class TestReports:
    def test_markdown(self, tmp_path):
        table = markdown_table(["method", "PSNR"], [["a|b", 31.23456], ["c", 2]])
        assert table == "| method | PSNR |\n| --- | --- |\n| a\\|b | 31.23 |\n| c | 2 |\n"
        write_markdown(tmp_path / "r.md", table)
        assert (tmp_path / "r.md").read_text() == table
        with pytest.raises(ValueError):
            markdown_table(["a"], [[1, 2]])

    def test_generated_block_is_replaced_in_place_or_appended(self, tmp_path):
        readme = tmp_path / "README.md"
        readme.write_text("# Title\n\ntext\n")
        replace_generated_block(readme, "figures", "| a |\n")
        assert readme.read_text() == "# Title\n\ntext\n\n<!-- figures:begin -->\n| a |\n<!-- figures:end -->\n"
        readme.write_text(readme.read_text() + "\nafter\n")
        replace_generated_block(readme, "figures", "| b |")
        assert readme.read_text() == ("# Title\n\ntext\n\n<!-- figures:begin -->\n| b |\n<!-- figures:end -->\n"
                                      "\nafter\n")


class TestImages:
    @pytest.mark.parametrize("bit_depth, step", [(8, 255), (16, 65535)])
    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_round_trip(self, tmp_path, rng, bit_depth, step, channels):
        image = np.round(rng.random((5, 7, channels)) * step) / step
        write_image(tmp_path / "x.png", image, bit_depth=bit_depth)
        back = read_image(tmp_path / "x.png", channels=None)
        assert back.dtype == np.float32 and back.shape == (5, 7, channels)
        np.testing.assert_allclose(back, image, atol=1e-6)

    def test_channel_conversion(self, tmp_path, rng):
        rgb = rng.random((4, 4, 3)).astype(np.float32)
        write_image(tmp_path / "rgba.png", np.concatenate([rgb, np.ones((4, 4, 1))], -1))
        assert read_image(tmp_path / "rgba.png").shape == (4, 4, 3)
        gray = read_image(tmp_path / "rgba.png", channels=1)
        assert gray.shape == (4, 4, 1)
        expected = rgb @ np.array([0.299, 0.587, 0.114])
        np.testing.assert_allclose(gray[..., 0], expected, atol=0.01)
        write_image(tmp_path / "g.png", rgb[..., 0])
        assert np.allclose(read_image(tmp_path / "g.png")[..., 0], read_image(tmp_path / "g.png")[..., 2])

    def test_rgb_order_and_uint_inputs(self, tmp_path):
        red = np.zeros((2, 2, 3), np.uint8)
        red[..., 0] = 255
        write_image(tmp_path / "r.png", red)
        np.testing.assert_array_equal(read_image(tmp_path / "r.png")[0, 0], [1, 0, 0])
        write_image(tmp_path / "r16.png", red, bit_depth=16)
        np.testing.assert_array_equal(read_image(tmp_path / "r16.png")[0, 0], [1, 0, 0])
        write_image(tmp_path / "j.jpg", red)
        assert read_image(tmp_path / "j.jpg")[0, 0, 0] > 0.9

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="missing.png' not found"):
            read_image(tmp_path / "missing.png")
        (tmp_path / "bad.png").write_bytes(b"garbage")
        with pytest.raises(InputError, match="bad.png' could not be decoded"):
            read_image(tmp_path / "bad.png")
        with pytest.raises(InputError, match="shape"):
            write_image(tmp_path / "x.png", np.zeros((2, 2, 2)))
        with pytest.raises(InputError, match="bit_depth"):
            write_image(tmp_path / "x.png", np.zeros((2, 2)), bit_depth=12)
        assert not (tmp_path / "x.png").exists()

    def test_grid_and_colorize(self):
        grid = image_grid([np.zeros((2, 3, 3))] * 3, ncols=2, pad=1)
        assert grid.shape == (5, 7, 3)
        assert grid[2].min() == 1.0 and grid[:2, :3].max() == 0.0 and grid[3:, 4:].min() == 1.0
        with pytest.raises(InputError):
            image_grid([np.zeros((2, 2, 3)), np.zeros((3, 2, 3))], ncols=2)
        colors = colorize(np.array([[0.0, np.nan], [1.0, 2.0]]))
        assert colors.shape == (2, 2, 3) and colors.dtype == np.float32
        np.testing.assert_allclose(colors[0, 1], [0.5, 0.5, 0.5])
        np.testing.assert_allclose(colors[1, 1], colorize(np.array([5.0]), vmin=0, vmax=2)[0])


class TestVideo:
    @pytest.mark.parametrize("suffix", [".mp4", ".gif"])
    def test_round_trip(self, tmp_path, suffix):
        t = np.linspace(0, 1, 5, dtype=np.float32)
        frames = np.broadcast_to(t[:, None, None, None], (5, 15, 21, 3)).copy()  # odd size: padded for mp4
        frames[..., 1] = 0.5
        write_video(tmp_path / f"v{suffix}", frames, fps=5)
        back = read_video(tmp_path / f"v{suffix}")
        assert back.dtype == np.uint8 and back.shape[0] == 5 and back.shape[-1] == 3
        assert back.shape[1:3] == ((16, 22) if suffix == ".mp4" else (15, 21))
        np.testing.assert_allclose(back[:, :15, :21].astype(float), frames * 255, atol=12)
        assert read_video(tmp_path / f"v{suffix}", max_frames=2).shape[0] == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"v{suffix}"]

    def test_exception(self, tmp_path):
        with pytest.raises(InputError, match="not found"):
            read_video(tmp_path / "nope.mp4")
        (tmp_path / "bad.mp4").write_bytes(b"garbage")
        with pytest.raises(InputError, match="bad.mp4' could not be read"):
            read_video(tmp_path / "bad.mp4")
        with pytest.raises(InputError, match="unsupported suffix"):
            write_video(tmp_path / "v.avi", np.zeros((1, 2, 2, 3)))
        with pytest.raises(InputError, match="expected"):
            write_video(tmp_path / "v.mp4", np.zeros((2, 2, 3)))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]
