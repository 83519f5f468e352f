"""Video data sets: in-memory arrays, BAIR frame folders, folders of video files; frames for the VQ-VAE.

Every data set yields uint8 videos (T, H, W, 3); models see float frames in [-1, 1] via :func:`to_model_range`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from shared_utils.errors import InputError
from shared_utils.io import atomic_write, read_image, read_video
from shared_utils.run import data_lock, data_root
from torch.utils.data import Dataset

from lvt.config import DataConfig
from lvt.data.synthetic import make_sprite_videos

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif", ".m4v")


def to_model_range(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float().div(127.5).sub(1.0)


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> (..., H, W, 3) in [0, 1]."""
    return frames.clamp(-1, 1).add(1.0).div(2.0).movedim(-3, -1)


def check_video(video: np.ndarray, num_frames: int, resolution: int, name: str) -> None:
    if video.ndim != 4 or video.shape[-1] != 3:
        raise InputError(f"video {name} has shape {tuple(video.shape)}, expected (T, H, W, 3) RGB frames")
    if video.shape[1:3] != (resolution, resolution):
        raise InputError(
            f"video {name} has resolution {video.shape[2]}x{video.shape[1]}, expected {resolution}x{resolution}"
        )
    if video.shape[0] < num_frames:
        raise InputError(f"video {name} has {video.shape[0]} frames, at least {num_frames} are needed")


class ArrayVideoDataset(Dataset):
    """Videos held in one uint8 array (N, T, H, W, 3)."""

    def __init__(self, videos: np.ndarray, num_frames: int, resolution: int, name: str = "array"):
        if videos.ndim != 5 or len(videos) == 0:
            raise InputError(f"video array {name} has shape {tuple(videos.shape)}, expected (N, T, H, W, 3) with N > 0")
        check_video(videos[0], num_frames, resolution, f"{name}[0]")
        self.videos = videos
        self.num_frames = num_frames

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.videos[index, : self.num_frames]))  # a writable copy, also of a memmap


class BairFrameFolderDataset(Dataset):
    """BAIR robot pushing converted to PNG folders: ``{root}/{split}/{record}/{k}/{0..29}.png``."""

    def __init__(self, root: str | Path, split: str, num_frames: int = 16, resolution: int = 64, max_videos=None):
        folder = Path(root) / split
        if not folder.is_dir():
            raise InputError(f"BAIR split folder '{folder}' does not exist")
        self.videos = sorted(p for p in folder.glob("*/*") if p.is_dir())
        if max_videos is not None:
            self.videos = self.videos[:max_videos]
        if not self.videos:
            raise InputError(f"BAIR split folder '{folder}' holds no {{record}}/{{k}}/ video folders")
        self.num_frames = num_frames
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> torch.Tensor:
        folder = self.videos[index]
        paths = [folder / f"{t}.png" for t in range(self.num_frames)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise InputError(f"BAIR video '{folder}' lacks frames {missing[:3]} (needs 0..{self.num_frames - 1}.png)")
        frames = np.stack([read_image(p, channels=3) for p in paths])
        video = np.rint(frames * 255.0).astype(np.uint8)
        check_video(video, self.num_frames, self.resolution, f"'{folder}'")
        return torch.from_numpy(video)


def resize_center_crop(video: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> uint8 (T, r, r, 3): shorter side resized to r (antialiased), centre crop."""
    frames = torch.from_numpy(video).permute(0, 3, 1, 2).float()
    height, width = frames.shape[-2:]
    scale = resolution / min(height, width)
    size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
    frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
    top = (size[0] - resolution) // 2
    left = (size[1] - resolution) // 2
    frames = frames[:, :, top : top + resolution, left : left + resolution]
    return frames.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


class VideoFileDataset(Dataset):
    """Kinetics-style folders of video files ``{root}/{split}/**/*.mp4``: first T frames, resized and cropped."""

    def __init__(self, root: str | Path, split: str, num_frames: int = 16, resolution: int = 64, max_videos=None):
        folder = Path(root) / split
        if not folder.is_dir():
            raise InputError(f"video split folder '{folder}' does not exist")
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if max_videos is not None:
            self.paths = self.paths[:max_videos]
        if not self.paths:
            raise InputError(f"video split folder '{folder}' holds no video files ({', '.join(VIDEO_SUFFIXES)})")
        self.num_frames = num_frames
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        video = read_video(path, max_frames=self.num_frames)
        if video.ndim != 4 or video.shape[-1] != 3:
            raise InputError(f"video '{path}' has shape {tuple(video.shape)}, expected (T, H, W, 3) RGB frames")
        if video.shape[0] < self.num_frames:
            raise InputError(f"video '{path}' has {video.shape[0]} frames, at least {self.num_frames} are needed")
        return resize_center_crop(video[: self.num_frames], self.resolution)


class FrameDataset(Dataset):
    """Single frames of a video data set (VQ-VAE training), as float (3, H, W) in [-1, 1]."""

    def __init__(self, videos: Dataset, num_frames: int):
        self.videos = videos
        self.num_frames = num_frames

    def __len__(self) -> int:
        return len(self.videos) * self.num_frames

    def __getitem__(self, index: int) -> torch.Tensor:
        video, frame = divmod(index, self.num_frames)
        return to_model_range(self.videos[video][frame])


MEMBER = "lvt"


def synthetic_path(cfg: DataConfig, split: str) -> Path:
    """The cache file of one split of the built-in videos; its name hashes every setting it depends on."""
    syn = cfg.synthetic
    count, seed = (syn.num_train, syn.train_seed) if split == "train" else (syn.num_test, syn.test_seed)
    key = f"{count}-{cfg.num_frames}-{cfg.resolution}-{syn.num_sprites}-{syn.sprite_size}-{syn.speed}-{seed}"
    return data_root(MEMBER, cfg.root) / f"sprites-{split}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npy"


def _split_size(cfg: DataConfig, split: str) -> int:
    return cfg.synthetic.num_train if split == "train" else cfg.synthetic.num_test


def _read_cached(path: Path, expected: tuple[int, ...]) -> np.ndarray:
    """The cached videos, memory-mapped (large sets stay on disk); a damaged file is named, not regenerated over:
    files appear only by atomic rename, so damage means something else wrote there."""
    try:
        videos = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"data file '{path}' is damaged ({type(exc).__name__}); "
                         "delete it to generate it again") from exc
    if videos.shape != expected or videos.dtype != np.uint8:
        raise InputError(f"data file '{path}' holds {videos.dtype} {tuple(videos.shape)}, expected uint8 {expected}; "
                         "delete it to generate it again")
    return videos


def synthetic_videos(cfg: DataConfig, split: str) -> np.ndarray:
    """The built-in sprite videos of one split, generated once (under the data folder's lock, renamed into place
    when complete) and cached as .npy."""
    path = synthetic_path(cfg, split)
    expected = (_split_size(cfg, split), cfg.num_frames, cfg.resolution, cfg.resolution, 3)
    if path.is_file():
        return _read_cached(path, expected)
    with data_lock(path.parent):
        if path.is_file():  # another run generated it while this one waited for the lock
            return _read_cached(path, expected)
        syn = cfg.synthetic
        videos = make_sprite_videos(
            expected[0],
            cfg.num_frames,
            cfg.resolution,
            num_sprites=syn.num_sprites,
            sprite_size=tuple(syn.sprite_size),
            speed=tuple(syn.speed),
            seed=syn.train_seed if split == "train" else syn.test_seed,
        )
        with atomic_write(path) as handle:
            np.save(handle, videos)
    return _read_cached(path, expected)


def source_root(cfg: DataConfig) -> Path:
    """The folder of a real data set: ``data.root``, else ``<data root>/<source>``; read only."""
    if cfg.root not in (None, ""):
        return data_root(MEMBER, cfg.root, writable=False)
    return data_root(MEMBER, writable=False) / cfg.source


def build_video_dataset(cfg: DataConfig, split: str) -> Dataset:
    """The configured source for ``split`` in {"train", "test"}."""
    if cfg.source == "synthetic":
        return ArrayVideoDataset(synthetic_videos(cfg, split), cfg.num_frames, cfg.resolution, f"sprites-{split}")
    root = source_root(cfg)
    folder_split = cfg.train_split if split == "train" else cfg.test_split
    cls = BairFrameFolderDataset if cfg.source == "bair" else VideoFileDataset
    return cls(root, folder_split, cfg.num_frames, cfg.resolution, cfg.max_videos)


def prepare_videos(cfg: DataConfig) -> str:
    """``make-data``: generate the built-in videos, or check that every video of a real data set reads with the
    configured length and size (so that a bad file is named now, not hours into training). A one-line summary."""
    sizes = {}
    for split in ("train", "test"):
        dataset = build_video_dataset(cfg, split)
        if cfg.source != "synthetic":
            for index in range(len(dataset)):
                dataset[index]
        sizes[split] = len(dataset)
    folder = synthetic_path(cfg, "train").parent if cfg.source == "synthetic" else source_root(cfg)
    return f"{cfg.source} videos ready in {folder}: {sizes['train']} train, {sizes['test']} test"
