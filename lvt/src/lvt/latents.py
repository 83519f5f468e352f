"""Latent extraction: a video data set encoded to integer codes (N, T, h, w, n_c), cached with the codebook's
identity so that a cache written with another codebook is refused instead of silently mixing codes."""

from __future__ import annotations

from pathlib import Path

import torch
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save, load_checkpoint
from torch.utils.data import DataLoader, Dataset

from lvt.data.videos import to_model_range
from lvt.models.vqvae import VQVAE


@torch.no_grad()
def encode_videos(
    vqvae: VQVAE, videos: Dataset, batch_size: int = 16, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """uint8 videos -> codes (N, T, h, w, n_c) int16 (K <= 32768)."""
    vqvae.eval().to(device)
    chunks = []
    for batch in DataLoader(videos, batch_size=batch_size, shuffle=False):
        count, frames = batch.shape[:2]
        codes = vqvae.encode(to_model_range(batch.to(device)).flatten(0, 1))  # (B*T, n_c, h, w)
        chunks.append(codes.reshape(count, frames, *codes.shape[1:]).permute(0, 1, 3, 4, 2).to("cpu", torch.int16))
    return torch.cat(chunks)


def save_latents(path: str | Path, codes: torch.Tensor, vqvae: VQVAE) -> None:
    atomic_torch_save(
        {"codes": codes, "codebook_hash": vqvae.quantizer.codebook_hash(), "codebook_size": vqvae.codebook_size}, path
    )


def load_latents(path: str | Path, vqvae: VQVAE) -> torch.Tensor:
    """codes (N, T, h, w, n_c) int64; refuses a cache written with another codebook."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"latent cache '{path}' not found (run `lvt train` first)")
    payload = load_checkpoint(path, weights_only=True)
    codes, stored = payload.get("codes"), payload.get("codebook_hash")
    if not isinstance(codes, torch.Tensor) or codes.dim() != 5:
        raise InputError(f"latent cache '{path}' holds no (N, T, h, w, n_c) codes: it is corrupt")
    current = vqvae.quantizer.codebook_hash()
    if stored != current:
        raise InputError(
            f"latent cache '{path}' was made with codebook {stored}, but the VQ-VAE has codebook {current}; "
            "delete it and run `lvt train` again"
        )
    return codes.long()


def cached_latents(path: str | Path, vqvae: VQVAE, videos: Dataset, device: torch.device | str = "cpu") -> torch.Tensor:
    """Load the cache when it matches the codebook; (re)encode and write it otherwise."""
    path = Path(path)
    if path.is_file():
        try:
            return load_latents(path, vqvae)
        except InputError:
            pass  # stale or damaged: encode again below
    codes = encode_videos(vqvae, videos, device=device)
    save_latents(path, codes, vqvae)
    return codes.long()
