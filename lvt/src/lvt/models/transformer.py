"""Latent video transformer (eq. 2): a Video-Transformer-style encoder/decoder over subscale slices of latents.

For slice n = (a, b, c):
- the encoder sees the already generated slices Z_{<n} (embedded tokens, unknown slices zeroed), stacked along
  channels at slice resolution, mixes them with a Conv3d, adds a learned slice embedding, projects, and applies
  unmasked block-local attention layers;
- the decoder embeds the tokens of slice n, applies a causal masked Conv3d (each position sees only earlier
  positions of the slice in raster order), adds a 3-D sinusoidal position encoding and the encoder output, and
  applies masked block-local attention layers;
- channel k of a position is predicted from [LN(h), one-hot(Z^{<k})] by its own two-layer head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lvt.models.attention import TransformerLayer, check_blocks
from lvt.models.subscale import Triple, num_slices, slice_shape, to_slices


def sinusoidal_encoding_3d(grid: Triple, width: int) -> torch.Tensor:
    """(T, H, W, width): concatenated 1-D sinusoidal encodings of t, y and x (a third of the width each)."""
    dims = [2 * (width // 6)] * 2
    dims.append(width - sum(dims))
    axes = []
    for size, dim in zip(grid, dims, strict=True):
        positions = torch.arange(size, dtype=torch.float32)[:, None]
        frequencies = torch.exp(-math.log(10_000.0) * torch.arange(0, dim // 2, dtype=torch.float32) * 2 / max(dim, 1))
        angles = positions * frequencies
        encoding = torch.cat([angles.sin(), angles.cos(), torch.zeros(size, dim % 2)], dim=-1)
        axes.append(encoding)
    t, h, w = grid
    return torch.cat(
        [
            axes[0][:, None, None, :].expand(t, h, w, -1),
            axes[1][None, :, None, :].expand(t, h, w, -1),
            axes[2][None, None, :, :].expand(t, h, w, -1),
        ],
        dim=-1,
    )


class MaskedConv3d(nn.Conv3d):
    """'Same' Conv3d whose kernel only covers positions strictly before the centre in raster order (mask A)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple):
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"masked convolution kernel {tuple(kernel)} must have odd sizes")
        super().__init__(in_channels, out_channels, kernel, padding=tuple(k // 2 for k in kernel))
        centre = tuple(k // 2 for k in kernel)
        mask = torch.zeros(kernel)
        flat = mask.view(-1)
        flat[: (centre[0] * kernel[1] + centre[1]) * kernel[2] + centre[2]] = 1.0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def at(self, padded: torch.Tensor, position: Triple) -> torch.Tensor:
        """Output (B, C_out) at one position of the zero-padded input ``padded`` (B, C_in, T+2p, H+2p, W+2p)."""
        kt, kh, kw = self.kernel_size
        t, y, x = position
        window = padded[:, :, t : t + kt, y : y + kh, x : x + kw]
        return torch.einsum("bcijk,ocijk->bo", window, self.weight * self.mask) + self.bias


class ChannelHead(nn.Module):
    """logits of channel k from [LN(h), one-hot(Z^{<k})] -> linear -> ReLU -> linear."""

    def __init__(self, width: int, channel: int, codebook_size: int):
        super().__init__()
        self.channel = channel
        self.codebook_size = codebook_size
        self.net = nn.Sequential(
            nn.Linear(width + channel * codebook_size, width), nn.ReLU(), nn.Linear(width, codebook_size)
        )

    def forward(self, hidden: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """hidden (..., width), previous (..., k) tokens of the earlier channels -> (..., K)."""
        if self.channel:
            one_hot = F.one_hot(previous[..., : self.channel], self.codebook_size).to(hidden.dtype).flatten(-2)
            hidden = torch.cat([hidden, one_hot], dim=-1)
        return self.net(hidden)


@dataclass
class DecodingCache:
    """State of the cached sampler for one slice."""

    context: torch.Tensor  # (B, T', H', W', width): encoder output projected + position encoding
    embeddings: torch.Tensor  # (B, E, T'+2p, H'+2p, W'+2p) zero-padded token embeddings of the slice
    keys_values: list[tuple[torch.Tensor, torch.Tensor]]  # per decoder layer, (B, heads, T', H', W', d)


class LatentVideoTransformer(nn.Module):
    def __init__(
        self,
        *,
        video_shape: Triple,
        num_channels: int,
        codebook_size: int,
        subscale: Triple = (16, 1, 1),
        embedding_dim: int = 128,
        width: int = 512,
        attention_dim: int = 128,
        ffn_dim: int = 2048,
        num_heads: int = 8,
        encoder_layers: int = 8,
        decoder_layers: int = 8,
        encoder_kernel: Triple = (1, 3, 3),
        decoder_kernel: Triple = (3, 3, 3),
        encoder_blocks: list[Triple] | tuple[Triple, ...] = ((1, 16, 16),),
        decoder_blocks: list[Triple] | tuple[Triple, ...] = ((1, 16, 16),),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.video_shape = tuple(video_shape)
        self.subscale = tuple(subscale)
        self.slice_shape = slice_shape(self.video_shape, self.subscale)
        self.num_slices = num_slices(self.subscale)
        self.num_channels = num_channels
        self.codebook_size = codebook_size
        for block in list(encoder_blocks) + list(decoder_blocks):
            check_blocks(self.slice_shape, tuple(block), "transformer")
        if any(k % 2 == 0 for k in encoder_kernel):
            raise ValueError(f"encoder kernel {tuple(encoder_kernel)} must have odd sizes")
        self.register_buffer("channel_offsets", torch.arange(num_channels) * codebook_size, persistent=False)

        self.encoder_embedding = nn.Embedding(num_channels * codebook_size, embedding_dim)
        self.encoder_conv = nn.Conv3d(
            self.num_slices * embedding_dim, width, encoder_kernel, padding=tuple(k // 2 for k in encoder_kernel)
        )
        self.slice_embedding = nn.Embedding(self.num_slices, width)
        self.encoder_projection = nn.Linear(width, width)
        self.encoder_layers = nn.ModuleList(
            TransformerLayer(width, attention_dim, ffn_dim, num_heads, tuple(encoder_blocks[i % len(encoder_blocks)]),
                             causal=False, dropout=dropout)
            for i in range(encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(width)

        self.decoder_embedding = nn.Embedding(num_channels * codebook_size, embedding_dim)
        self.decoder_conv = MaskedConv3d(embedding_dim, width, decoder_kernel)
        self.register_buffer(
            "position_encoding", sinusoidal_encoding_3d(self.slice_shape, width), persistent=False
        )
        self.context_projection = nn.Linear(width, width)
        self.decoder_layers = nn.ModuleList(
            TransformerLayer(width, attention_dim, ffn_dim, num_heads, tuple(decoder_blocks[i % len(decoder_blocks)]),
                             causal=True, dropout=dropout)
            for i in range(decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList(ChannelHead(width, k, codebook_size) for k in range(num_channels))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv3d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # ----------------------------------------------------------------------------------------------- pieces
    def _embed(self, table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """(..., n_c) tokens -> (..., E): sum of the per-channel embeddings."""
        return table(tokens + self.channel_offsets).sum(-2)

    def encode(self, video: torch.Tensor, slice_index: torch.Tensor) -> torch.Tensor:
        """video (B, T, h, w, n_c), slice_index (B,) -> encoder output (B, T', H', W', width) from slices < n."""
        embedded = self._embed(self.encoder_embedding, video).permute(0, 4, 1, 2, 3)  # (B, E, T, h, w)
        slices = to_slices(embedded, self.subscale)  # (B, S, E, T', H', W')
        known = torch.arange(self.num_slices, device=video.device)[None, :] < slice_index[:, None]
        slices = slices * known[:, :, None, None, None, None].to(slices.dtype)
        x = self.encoder_conv(slices.flatten(1, 2)).permute(0, 2, 3, 4, 1)
        x = self.encoder_projection(x + self.slice_embedding(slice_index)[:, None, None, None, :])
        for layer in self.encoder_layers:
            x = layer(x)
        return self.encoder_norm(x)

    def decoder_context(self, encoded: torch.Tensor) -> torch.Tensor:
        return self.context_projection(encoded) + self.position_encoding.to(encoded.dtype)

    def decode(self, slice_tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """slice tokens (B, T', H', W', n_c), context (B, T', H', W', width) -> LN(h) (B, T', H', W', width)."""
        embedded = self._embed(self.decoder_embedding, slice_tokens).permute(0, 4, 1, 2, 3)
        x = self.decoder_conv(embedded).permute(0, 2, 3, 4, 1) + context
        for layer in self.decoder_layers:
            x = layer(x)
        return self.decoder_norm(x)

    def channel_logits(self, hidden: torch.Tensor, previous: torch.Tensor, channel: int) -> torch.Tensor:
        return self.heads[channel](hidden, previous)

    def slice_tokens(self, video: torch.Tensor, slice_index: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w, n_c) -> tokens of slice n of every sample (B, T', H', W', n_c)."""
        slices = to_slices(video.permute(0, 4, 1, 2, 3), self.subscale)  # (B, S, n_c, T', H', W')
        picked = slices[torch.arange(video.shape[0], device=video.device), slice_index]
        return picked.permute(0, 2, 3, 4, 1)

    def forward(self, video: torch.Tensor, slice_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits of slice n: (B, T', H', W', n_c, K) and the targets (B, T', H', W', n_c)."""
        targets = self.slice_tokens(video, slice_index)
        hidden = self.decode(targets, self.decoder_context(self.encode(video, slice_index)))
        logits = torch.stack([self.channel_logits(hidden, targets, k) for k in range(self.num_channels)], dim=-2)
        return logits, targets

    # ------------------------------------------------------------------------------------ cached decoding
    def start_decoding(self, video: torch.Tensor, slice_index: int) -> DecodingCache:
        batch = video.shape[0]
        index = torch.full((batch,), slice_index, dtype=torch.long, device=video.device)
        context = self.decoder_context(self.encode(video, index))
        pad = [k // 2 for k in self.decoder_conv.kernel_size]
        grid = self.slice_shape
        padded = [n + 2 * p for n, p in zip(grid, pad, strict=True)]
        embeddings = context.new_zeros(batch, self.decoder_embedding.embedding_dim, *padded)
        keys_values = []
        for layer in self.decoder_layers:
            attention = layer.attention
            shape = (batch, attention.num_heads, *grid, attention.head_dim)
            keys_values.append((context.new_zeros(shape), context.new_zeros(shape)))
        return DecodingCache(context=context, embeddings=embeddings, keys_values=keys_values)

    def decode_step(self, cache: DecodingCache, position: Triple) -> torch.Tensor:
        """LN(h) (B, width) at one slice position; needs the tokens of every earlier position written."""
        t, y, x = position
        hidden = self.decoder_conv.at(cache.embeddings, position) + cache.context[:, t, y, x]
        for layer, keys_values in zip(self.decoder_layers, cache.keys_values, strict=True):
            hidden = layer.step(hidden, position, keys_values)
        return self.decoder_norm(hidden)

    def write_tokens(self, cache: DecodingCache, position: Triple, tokens: torch.Tensor) -> None:
        """Record the (B, n_c) tokens of a finished position for the masked convolution of later positions."""
        pad = [k // 2 for k in self.decoder_conv.kernel_size]
        t, y, x = position
        cache.embeddings[:, :, t + pad[0], y + pad[1], x + pad[2]] = self._embed(self.decoder_embedding, tokens)
