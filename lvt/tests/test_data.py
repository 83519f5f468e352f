import os

import numpy as np
import pytest
import torch
from lvt.config import DataConfig
from lvt.data.synthetic import make_sprite_videos, sprite_trajectories
from lvt.data.videos import (
    ArrayVideoDataset,
    BairFrameFolderDataset,
    FrameDataset,
    VideoFileDataset,
    build_video_dataset,
    to_model_range,
)
from lvt.latents import cached_latents, encode_videos, load_latents, save_latents
from lvt.models.vqvae import VQVAE
from shared_utils.errors import InputError
from shared_utils.io import write_image, write_video

SPRITES = dict(num_sprites=2, sprite_size=(6, 10), speed=(1.0, 3.0))


def test_sprite_videos_are_deterministic_per_seed():
    a = make_sprite_videos(3, 5, 32, seed=4, **SPRITES)
    assert a.shape == (3, 5, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, make_sprite_videos(3, 5, 32, seed=4, **SPRITES))
    assert not np.array_equal(a, make_sprite_videos(3, 5, 32, seed=5, **SPRITES))


def test_sprite_physics_keeps_speed_and_stays_inside_the_frame():
    track, sizes = sprite_trajectories(np.random.default_rng(0), 3, 60, 32, (6, 10), (2.0, 3.0))
    limits = 32 - sizes
    assert (track >= 0).all() and (track <= limits[None, :, None]).all()
    speed = np.linalg.norm(np.diff(track, axis=0), axis=-1)  # (59, 3)
    # free flight keeps the speed exactly; an elastic reflection at a wall can only shorten one step
    flight = speed.max(axis=0)
    assert ((flight >= 2.0) & (flight <= 3.0)).all()
    free = np.isclose(speed, flight[None])
    assert free.mean() > 0.7 and not free.all()


def _write_bair(root, split="test", videos=2, frames=4, size=64):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(videos, frames, size, size, 3), dtype=np.uint8)
    for v in range(videos):
        for t in range(frames):
            write_image(root / split / "traj_0_to_255" / str(v) / f"{t}.png", data[v, t])
    return data


def test_bair_frame_folders_load_exactly(tmp_path):
    data = _write_bair(tmp_path)
    dataset = BairFrameFolderDataset(tmp_path, "test", num_frames=4)
    assert len(dataset) == 2
    assert torch.equal(dataset[1], torch.from_numpy(data[1]))


def test_bair_bad_input_is_one_clear_error(tmp_path):
    _write_bair(tmp_path, frames=3)
    with pytest.raises(InputError, match="lacks frames"):
        BairFrameFolderDataset(tmp_path, "test", num_frames=4)[0]
    _write_bair(tmp_path / "small", frames=4, size=32)
    with pytest.raises(InputError, match="resolution 32x32, expected 64x64"):
        BairFrameFolderDataset(tmp_path / "small", "test", num_frames=4)[0]
    with pytest.raises(InputError, match="does not exist"):
        BairFrameFolderDataset(tmp_path, "train")


def test_video_files_are_resized_and_cropped(tmp_path):
    frames = np.zeros((6, 80, 120, 3), dtype=np.uint8)
    frames[:, :, 50:70] = 255  # a bright vertical band in the middle survives the centre crop
    write_video(tmp_path / "train" / "a" / "clip.mp4", frames, fps=5)
    dataset = VideoFileDataset(tmp_path, "train", num_frames=4, resolution=64)
    video = dataset[0]
    assert video.shape == (4, 64, 64, 3) and video.dtype == torch.uint8
    assert video[:, :, 32].float().mean() > 200 and video[:, :, 2].float().mean() < 30


def test_video_files_bad_input(tmp_path):
    write_video(tmp_path / "train" / "short.mp4", np.zeros((2, 64, 64, 3), dtype=np.uint8), fps=5)
    (tmp_path / "train" / "broken.mp4").write_bytes(b"not a video")
    dataset = VideoFileDataset(tmp_path, "train", num_frames=4)
    with pytest.raises(InputError):
        dataset[dataset.paths.index(tmp_path / "train" / "broken.mp4")]
    with pytest.raises(InputError, match="frames, at least 4"):
        dataset[dataset.paths.index(tmp_path / "train" / "short.mp4")]


def test_array_dataset_rejects_wrong_shapes():
    with pytest.raises(InputError, match="expected"):
        ArrayVideoDataset(np.zeros((2, 4, 64, 64, 1), dtype=np.uint8), 4, 64)
    with pytest.raises(InputError, match="frames, at least 8"):
        ArrayVideoDataset(np.zeros((2, 4, 64, 64, 3), dtype=np.uint8), 8, 64)


def test_synthetic_source_is_cached_and_frames_are_scaled():
    cfg = DataConfig(num_frames=4, resolution=32)
    cfg.synthetic.num_test = 3
    cfg.synthetic.sprite_size = (6, 10)
    first = build_video_dataset(cfg, "test")
    again = build_video_dataset(cfg, "test")
    assert len(first) == 3 and torch.equal(first[2], again[2])
    frames = FrameDataset(first, 4)
    assert len(frames) == 12
    assert frames[5].shape == (3, 32, 32) and frames[5].min() >= -1 and frames[5].max() <= 1
    assert torch.equal(frames[5], to_model_range(first[1][1]))


def test_latent_cache_refuses_another_codebook(tmp_path):
    videos = ArrayVideoDataset(make_sprite_videos(2, 3, 16, seed=0, **SPRITES), 3, 16)
    vqvae = VQVAE(hidden_channels=8, channels=8, res_channels=4, num_parts=2, codebook_size=4)
    codes = encode_videos(vqvae, videos)
    assert codes.shape == (2, 3, 4, 4, 2)
    save_latents(tmp_path / "codes.pt", codes, vqvae)
    assert torch.equal(load_latents(tmp_path / "codes.pt", vqvae), codes.long())
    vqvae.train()(torch.rand(2, 3, 16, 16))  # one EMA step changes the codebook
    with pytest.raises(InputError, match="made with codebook"):
        load_latents(tmp_path / "codes.pt", vqvae)
    refreshed = cached_latents(tmp_path / "codes.pt", vqvae, videos)
    assert torch.equal(load_latents(tmp_path / "codes.pt", vqvae), refreshed)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt"):
        load_latents(tmp_path / "bad.pt", vqvae)


def test_two_concurrent_generations_into_one_root_give_the_files_of_one(tmp_path, monkeypatch):
    import subprocess

    from lvt.config import load
    from lvt.data.videos import prepare_videos
    from shared_utils.testing import console_script

    def start(root):
        env = {**os.environ, "THESIS_DATA_ROOT": str(root), "OMP_NUM_THREADS": "1"}
        return subprocess.Popen([console_script("lvt"), "make-data", "--config", "tiny"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    shared = tmp_path / "shared"
    processes = [start(shared), start(shared)]
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "alone"))
    prepare_videos(load("tiny").data)
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]

    def files(root):
        return {p.name: p.read_bytes() for p in (root / "lvt").iterdir() if not p.name.startswith(".")}

    alone = files(tmp_path / "alone")
    assert len(alone) == 2 and files(shared) == alone
