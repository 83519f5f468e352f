"""Built-in videos with exact ground truth: coloured square sprites moving with constant velocity, bouncing
elastically off the frame borders and occluding each other in a fixed depth order (later sprites in front)."""

from __future__ import annotations

import numpy as np

PALETTE = np.array(
    [
        [230, 60, 50],
        [60, 200, 80],
        [70, 110, 240],
        [240, 210, 60],
        [200, 80, 220],
        [60, 210, 220],
    ],
    dtype=np.uint8,
)
BACKGROUND = np.array([20, 20, 28], dtype=np.uint8)


def sprite_trajectories(
    rng: np.random.Generator,
    num_sprites: int,
    num_frames: int,
    resolution: int,
    sprite_size: tuple[int, int],
    speed: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (num_frames, num_sprites, 2) as floats (row, col) and sizes (num_sprites,)."""
    sizes = rng.integers(sprite_size[0], sprite_size[1] + 1, size=num_sprites)
    limits = resolution - sizes  # largest valid top-left coordinate per sprite
    position = rng.uniform(0, 1, size=(num_sprites, 2)) * limits[:, None]
    angle = rng.uniform(0, 2 * np.pi, size=num_sprites)
    magnitude = rng.uniform(speed[0], speed[1], size=num_sprites)
    velocity = np.stack([np.sin(angle), np.cos(angle)], axis=-1) * magnitude[:, None]
    track = np.empty((num_frames, num_sprites, 2))
    for t in range(num_frames):
        track[t] = position
        position = position + velocity
        # elastic bounce: reflect the overshoot and the velocity component
        low = position < 0
        high = position > limits[:, None]
        position = np.where(low, -position, position)
        position = np.where(high, 2 * limits[:, None] - position, position)
        velocity = np.where(low | high, -velocity, velocity)
    return track, sizes


def render_video(track: np.ndarray, sizes: np.ndarray, colors: np.ndarray, resolution: int) -> np.ndarray:
    """(T, H, W, 3) uint8; sprites drawn in index order, so later sprites occlude earlier ones."""
    frames = np.empty((track.shape[0], resolution, resolution, 3), dtype=np.uint8)
    frames[:] = BACKGROUND
    for t in range(track.shape[0]):
        for sprite, size in enumerate(sizes):
            row, col = np.rint(track[t, sprite]).astype(int)
            frames[t, row : row + size, col : col + size] = colors[sprite]
    return frames


def make_sprite_videos(
    num_videos: int,
    num_frames: int,
    resolution: int,
    *,
    num_sprites: int,
    sprite_size: tuple[int, int],
    speed: tuple[float, float],
    seed: int,
) -> np.ndarray:
    """(N, T, H, W, 3) uint8, a deterministic function of the arguments."""
    if sprite_size[1] >= resolution:
        raise ValueError(f"sprite size {sprite_size} does not fit a {resolution}x{resolution} frame")
    rng = np.random.default_rng(seed)
    videos = np.empty((num_videos, num_frames, resolution, resolution, 3), dtype=np.uint8)
    for index in range(num_videos):
        track, sizes = sprite_trajectories(rng, num_sprites, num_frames, resolution, sprite_size, speed)
        colors = PALETTE[rng.choice(len(PALETTE), size=num_sprites, replace=False)]
        videos[index] = render_video(track, sizes, colors, resolution)
    return videos
