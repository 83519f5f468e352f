"""Sampling latent videos in the order of eq. 2 (slice by slice, raster inside a slice, channel by channel).

Both samplers consume the random stream identically (one uniform per batch row per sampled channel, inverse-CDF
draw), so the naive sampler (re-running encoder and decoder for every position, as the reference does) and the
cached one (encoder once per slice, masked-conv windows and attention keys/values cached) give the same samples
for the same seed, up to floating-point ties.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lvt.models.subscale import generation_order
from lvt.models.transformer import LatentVideoTransformer

TokenCallback = Callable[[int, int, int, int], None]


def draw(logits: torch.Tensor, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
    """Inverse-CDF sample of (B, K) logits with one uniform per row."""
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    uniform = torch.rand(logits.shape[0], generator=generator, dtype=torch.float64, device=generator.device)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, uniform[:, None].to(cdf.device)).squeeze(-1).clamp_max(logits.shape[-1] - 1)


def _start(model: LatentVideoTransformer, primer: torch.Tensor) -> torch.Tensor:
    frames = model.video_shape[0]
    expected = (*model.video_shape[1:], model.num_channels)
    if primer.dim() != 5 or tuple(primer.shape[2:]) != expected:
        raise ValueError(
            f"primer must have shape (B, T0, {model.video_shape[1]}, {model.video_shape[2]}, {model.num_channels}), "
            f"got {tuple(primer.shape)}"
        )
    if primer.shape[1] > frames:
        raise ValueError(f"{primer.shape[1]} priming frames exceed the video length {frames}")
    video = primer.new_zeros(primer.shape[0], frames, *primer.shape[2:])
    video[:, : primer.shape[1]] = primer
    return video


def _positions_by_slice(model: LatentVideoTransformer):
    """[(slice number, [(full position, slice position), ...]), ...] following generation_order."""
    order = generation_order(model.video_shape, model.subscale)
    per_slice = len(order) // model.num_slices
    st, sh, sw = model.subscale
    groups = []
    for n in range(model.num_slices):
        chunk = order[n * per_slice : (n + 1) * per_slice]
        groups.append((n, [((t, y, x), (t // st, y // sh, x // sw)) for t, y, x in chunk]))
    return groups


@torch.no_grad()
def sample_naive(
    model: LatentVideoTransformer,
    primer: torch.Tensor,
    generator: torch.Generator,
    temperature: float = 1.0,
    callback: TokenCallback | None = None,
) -> torch.Tensor:
    """primer (B, T0, h, w, n_c) -> latent video (B, T, h, w, n_c); re-runs the whole network per position."""
    video = _start(model, primer)
    num_priming = primer.shape[1]
    batch = video.shape[0]
    for n, positions in _positions_by_slice(model):
        index = torch.full((batch,), n, dtype=torch.long, device=video.device)
        for (t, y, x), inner in positions:
            if t < num_priming:
                continue
            hidden = model.decode(model.slice_tokens(video, index), model.decoder_context(model.encode(video, index)))
            hidden = hidden[:, inner[0], inner[1], inner[2]]
            for k in range(model.num_channels):
                video[:, t, y, x, k] = draw(model.channel_logits(hidden, video[:, t, y, x], k), generator, temperature)
                if callback is not None:
                    callback(t, y, x, k)
    return video


@torch.no_grad()
def sample_cached(
    model: LatentVideoTransformer,
    primer: torch.Tensor,
    generator: torch.Generator,
    temperature: float = 1.0,
    callback: TokenCallback | None = None,
) -> torch.Tensor:
    """Same samples as :func:`sample_naive`; the encoder runs once per slice and the decoder once per position."""
    video = _start(model, primer)
    num_priming = primer.shape[1]
    for n, positions in _positions_by_slice(model):
        if all(t < num_priming for (t, _, _), _ in positions):
            continue
        cache = model.start_decoding(video, n)
        for (t, y, x), inner in positions:
            # primed positions still pass through the decoder: later positions attend to their keys and values
            hidden = model.decode_step(cache, inner)
            if t >= num_priming:
                for k in range(model.num_channels):
                    logits = model.channel_logits(hidden, video[:, t, y, x], k)
                    video[:, t, y, x, k] = draw(logits, generator, temperature)
                    if callback is not None:
                        callback(t, y, x, k)
            model.write_tokens(cache, inner, video[:, t, y, x])
    return video


def sample_latents(
    model: LatentVideoTransformer,
    primer: torch.Tensor,
    seed: int,
    *,
    cached: bool = True,
    temperature: float = 1.0,
    callback: TokenCallback | None = None,
) -> torch.Tensor:
    generator = torch.Generator(device=primer.device)
    generator.manual_seed(seed)
    sampler = sample_cached if cached else sample_naive
    was_training = model.training
    model.eval()
    try:
        return sampler(model, primer, generator, temperature, callback)
    finally:
        model.train(was_training)
