"""Multi-part vector quantiser with EMA codebooks (VQ-VAE bottleneck of eq. 1).

The encoder output (B, D, h, w) is split into n_c parts of D / n_c channels; each part vector is replaced by its
nearest codebook entry. Codebooks are updated by exponential moving averages of assignment counts and sums (with
Laplace smoothing of the counts), not by gradients; the statistics are all-reduced across processes so that every
rank holds the same codebook. Codes whose EMA count drops below a threshold are restarted at random encoder outputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # straight-through z_q, (B, D, h, w)
    codes: torch.Tensor  # (B, n_c, h, w) int64
    commitment_loss: torch.Tensor  # mean ||z_e - sg(e)||^2
    perplexity: torch.Tensor  # mean over parts of exp(entropy of code usage in the batch)
    usage: torch.Tensor  # mean over parts of the fraction of codes used in the batch


class EMAVectorQuantizer(nn.Module):
    def __init__(
        self,
        num_parts: int,
        codebook_size: int,
        embedding_dim: int,
        *,
        shared_codebook: bool = False,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        dead_code_threshold: float = 0.0,
    ):
        super().__init__()
        if embedding_dim % num_parts:
            raise ValueError(f"embedding dim {embedding_dim} is not divisible by n_c = {num_parts}")
        self.num_parts = num_parts
        self.codebook_size = codebook_size
        self.part_dim = embedding_dim // num_parts
        self.shared_codebook = shared_codebook
        self.decay = decay
        self.epsilon = epsilon
        self.dead_code_threshold = dead_code_threshold
        books = 1 if shared_codebook else num_parts
        init = torch.empty(books, codebook_size, self.part_dim).uniform_(-1.0 / codebook_size, 1.0 / codebook_size)
        self.register_buffer("embedding", init)
        self.register_buffer("ema_sum", init.clone())
        # one pseudo-observation per code: an unused code keeps its value instead of being divided by epsilon
        self.register_buffer("ema_count", torch.ones(books, codebook_size))

    def codebook_for_parts(self) -> torch.Tensor:
        """(n_c, K, d): the codebook each part is quantised with."""
        return self.embedding.expand(self.num_parts, -1, -1)

    def codebook_hash(self) -> str:
        """Identity of the current codebook (and its layout), used to refuse stale latent caches."""
        digest = hashlib.sha256()
        digest.update(f"{self.num_parts}:{self.codebook_size}:{self.part_dim}:{self.shared_codebook}".encode())
        digest.update(self.embedding.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def split_parts(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (n_c, B*h*w, d)."""
        batch, _, h, w = z.shape
        parts = z.reshape(batch, self.num_parts, self.part_dim, h, w)
        return parts.permute(1, 0, 3, 4, 2).reshape(self.num_parts, batch * h * w, self.part_dim)

    def _merge(self, parts: torch.Tensor, batch: int, h: int, w: int) -> torch.Tensor:
        out = parts.reshape(self.num_parts, batch, h, w, self.part_dim).permute(1, 0, 4, 2, 3)
        return out.reshape(batch, self.num_parts * self.part_dim, h, w)

    def nearest_codes(self, flat: torch.Tensor) -> torch.Tensor:
        """(n_c, N, d) -> (n_c, N) index of the nearest codebook entry (squared Euclidean distance)."""
        book = self.codebook_for_parts()
        distances = (
            flat.pow(2).sum(-1, keepdim=True)
            - 2.0 * torch.bmm(flat, book.transpose(1, 2))
            + book.pow(2).sum(-1).unsqueeze(1)
        )
        return distances.argmin(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, n_c, h, w) integer codes -> z_q (B, D, h, w)."""
        if codes.min() < 0 or codes.max() >= self.codebook_size:
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")
        batch, _, h, w = codes.shape
        flat = codes.permute(1, 0, 2, 3).reshape(self.num_parts, -1)
        book = self.codebook_for_parts()
        vectors = torch.stack([book[p][flat[p]] for p in range(self.num_parts)])
        return self._merge(vectors, batch, h, w)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        """One EMA step from encoder outputs ``flat`` (n_c, N, d) and their assignments ``codes`` (n_c, N)."""
        one_hot = F.one_hot(codes, self.codebook_size).to(flat.dtype)  # (n_c, N, K)
        counts = one_hot.sum(1)  # (n_c, K)
        sums = torch.bmm(one_hot.transpose(1, 2), flat)  # (n_c, K, d)
        if self.shared_codebook:
            counts = counts.sum(0, keepdim=True)
            sums = sums.sum(0, keepdim=True)
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1.0 - self.decay)
        total = self.ema_count.sum(-1, keepdim=True)
        smoothed = (self.ema_count + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.embedding.copy_(self.ema_sum / smoothed.unsqueeze(-1))
        if self.dead_code_threshold > 0:
            self._restart_dead_codes(flat)

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        # the counts are all-reduced, so every rank takes the same decision; replacements come from rank 0
        dead = self.ema_count < self.dead_code_threshold  # (books, K)
        if not bool(dead.any()):
            return
        candidates = flat.reshape(-1, self.part_dim) if self.shared_codebook else flat
        candidates = candidates.reshape(self.embedding.shape[0], -1, self.part_dim)
        picks = torch.randint(0, candidates.shape[1], dead.shape, device=flat.device)
        replacement = torch.gather(candidates, 1, picks.unsqueeze(-1).expand(-1, -1, self.part_dim))
        if _distributed():
            dist.broadcast(replacement, src=0)
        mask = dead.unsqueeze(-1)
        self.embedding.copy_(torch.where(mask, replacement, self.embedding))
        self.ema_sum.copy_(torch.where(mask, replacement, self.ema_sum))
        self.ema_count.copy_(torch.where(dead, torch.ones_like(self.ema_count), self.ema_count))

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        batch, _, h, w = z.shape
        flat = self.split_parts(z)
        codes = self.nearest_codes(flat.detach())
        book = self.codebook_for_parts()
        chosen = torch.stack([book[p][codes[p]] for p in range(self.num_parts)])
        commitment = F.mse_loss(flat, chosen.detach())
        if self.training:
            self.ema_update(flat.detach(), codes)
        # straight-through estimator: forward uses e, backward passes the decoder gradient to z_e unchanged
        straight_through = flat + (chosen - flat).detach()
        with torch.no_grad():
            probs = F.one_hot(codes, self.codebook_size).float().mean(1)  # (n_c, K)
            entropy = -(probs * torch.log(probs.clamp_min(1e-10))).sum(-1)
            perplexity = entropy.exp().mean()
            usage = (probs > 0).float().mean(-1).mean()
        return QuantizerOutput(
            quantized=self._merge(straight_through, batch, h, w),
            codes=codes.reshape(self.num_parts, batch, h, w).permute(1, 0, 2, 3),
            commitment_loss=commitment,
            perplexity=perplexity,
            usage=usage,
        )
