"""Subscale slicing of a latent video (eq. 2): slices Z_(a,b,c) = Z[a::s_t, b::s_h, c::s_w].

Slices are generated in subscale order (a, b, c) raster, positions inside a slice in raster order (t', y', x'),
and channels one after another. Slice number n = a * s_h * s_w + b * s_w + c.
"""

from __future__ import annotations

import itertools

import torch
from shared_utils.errors import InputError

Triple = tuple[int, int, int]


def slice_shape(video_shape: Triple, subscale: Triple) -> Triple:
    """(T/s_t, h/s_h, w/s_w); every factor must divide its axis."""
    if any(s < 1 for s in subscale):
        raise InputError(f"subscale factors {tuple(subscale)} must be positive")
    if any(n % s for n, s in zip(video_shape, subscale, strict=True)):
        raise InputError(
            f"latent video shape (T, h, w) = {tuple(video_shape)} is not divisible by the subscale factors "
            f"{tuple(subscale)}"
        )
    return tuple(n // s for n, s in zip(video_shape, subscale, strict=True))  # type: ignore[return-value]


def num_slices(subscale: Triple) -> int:
    return subscale[0] * subscale[1] * subscale[2]


def slice_offsets(subscale: Triple) -> list[Triple]:
    """Slice offsets (a, b, c) in subscale (generation) order."""
    return list(itertools.product(range(subscale[0]), range(subscale[1]), range(subscale[2])))


def generation_order(video_shape: Triple, subscale: Triple) -> list[Triple]:
    """Positions (t, y, x) of the latent video in the order pi of eq. 2."""
    inner = slice_shape(video_shape, subscale)
    order = []
    for a, b, c in slice_offsets(subscale):
        for tt, yy, xx in itertools.product(range(inner[0]), range(inner[1]), range(inner[2])):
            order.append((a + tt * subscale[0], b + yy * subscale[1], c + xx * subscale[2]))
    return order


def to_slices(x: torch.Tensor, subscale: Triple) -> torch.Tensor:
    """(B, C, T, h, w) -> (B, S, C, T/s_t, h/s_h, w/s_w) with slices in generation order."""
    batch, channels, t, h, w = x.shape
    st, sh, sw = subscale
    tt, hh, ww = slice_shape((t, h, w), subscale)
    x = x.reshape(batch, channels, tt, st, hh, sh, ww, sw)
    x = x.permute(0, 3, 5, 7, 1, 2, 4, 6)
    return x.reshape(batch, st * sh * sw, channels, tt, hh, ww)


def slice_frame_index(slice_index: torch.Tensor, subscale: Triple, inner_t: int) -> torch.Tensor:
    """Frame index t = a + t' s_t of every slice position along t': (..., T') for slice numbers (...)."""
    a = slice_index // (subscale[1] * subscale[2])
    steps = torch.arange(inner_t, device=slice_index.device)
    return a[..., None] + steps * subscale[0]


def trainable_slices(num_frames: int, subscale: Triple, num_priming_frames: int) -> list[int]:
    """Slices holding at least one position after the priming frames (the others carry no loss)."""
    inner_t = num_frames // subscale[0]
    result = []
    for n, (a, _, _) in enumerate(slice_offsets(subscale)):
        if a + (inner_t - 1) * subscale[0] >= num_priming_frames:
            result.append(n)
    return result
