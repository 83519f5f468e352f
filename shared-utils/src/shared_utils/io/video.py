"""Video files: MP4 (libx264 through imageio-ffmpeg) and GIF out, any FFmpeg-readable file in."""

from __future__ import annotations

import pathlib

import av
import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np

from ..errors import InputError
from .atomic import atomic_path


def _frames_uint8(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise InputError(f"video frames have shape {frames.shape}, expected (T, H, W, 3) with T >= 1")
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_video(path, frames, fps: float = 10) -> None:
    """Write (T, H, W, 3) float [0, 1] or uint8 frames as .mp4 or .gif, atomically."""
    path = pathlib.Path(path)
    frames = _frames_uint8(frames)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
        elif suffix == ".mp4":
            # yuv420p needs even sizes; pad with edge pixels rather than let the encoder rescale.
            t, h, w, _ = frames.shape
            frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            writer = imageio_ffmpeg.write_frames(
                str(tmp), (frames.shape[2], frames.shape[1]), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                macro_block_size=1, quality=8,
            )
            writer.send(None)
            for frame in frames:
                writer.send(np.ascontiguousarray(frame))
            writer.close()
        else:
            raise InputError(f"video '{path}' has unsupported suffix '{path.suffix}', expected .mp4 or .gif")


def read_video(path, max_frames: int | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of a video file (at most ``max_frames``)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"video '{path}' not found")
    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if max_frames is not None and len(frames) >= max_frames:
                    break
                frames.append(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(f"video '{path}' could not be read ({type(exc).__name__})") from exc
    if not frames:
        raise InputError(f"video '{path}' has no frames")
    return np.stack(frames)
