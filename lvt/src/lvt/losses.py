"""Cross-entropy of latent slices with priming positions excluded, and bits/dim.

bits/dim = (sum of cross-entropy in nats) / ln 2 / (number of non-priming latent positions x n_c).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lvt.models.subscale import Triple, slice_frame_index


def slice_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    slice_index: torch.Tensor,
    subscale: Triple,
    num_priming_frames: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (B, T', H', W', n_c, K), targets (B, T', H', W', n_c) -> (sum of nats, number of dims counted)."""
    nats = F.cross_entropy(logits.movedim(-1, 1), targets, reduction="none")  # (B, T', H', W', n_c)
    frames = slice_frame_index(slice_index, subscale, logits.shape[1])  # (B, T')
    keep = (frames >= num_priming_frames).to(nats.dtype)[:, :, None, None, None].expand_as(nats)
    return (nats * keep).sum(), keep.sum()


def bits_per_dim(total_nats: float | torch.Tensor, num_dims: float | torch.Tensor) -> float:
    return float(total_nats) / math.log(2.0) / float(num_dims)


@torch.no_grad()
def dataset_bits_per_dim(model, videos: torch.Tensor, num_priming_frames: int, batch_size: int = 16) -> float:
    """bits/dim of latent videos (N, T, h, w, n_c) under ``model``, every slice teacher-forced."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    count = torch.zeros((), dtype=torch.float64)
    device = next(model.parameters()).device
    for start in range(0, len(videos), batch_size):
        batch = videos[start : start + batch_size].to(device)
        for n in range(model.num_slices):
            index = torch.full((batch.shape[0],), n, dtype=torch.long, device=device)
            logits, targets = model(batch, index)
            nats, dims = slice_cross_entropy(logits, targets, index, model.subscale, num_priming_frames)
            total += nats.double().cpu()
            count += dims.double().cpu()
    model.train(was_training)
    if count == 0:
        raise ValueError("no latent positions after the priming frames to score")
    return bits_per_dim(total, count)
