"""Block-local multi-head self-attention over a 3-D grid with learned relative position biases.

The grid (T, H, W) is cut into non-overlapping blocks (b_t, b_h, b_w); positions attend only inside their block.
Inside a block positions are ordered in raster order, which equals the raster order of the whole grid restricted
to the block, so a lower-triangular mask keeps the autoregressive order of eq. 2.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]


def check_blocks(grid: Triple, block: Triple, what: str) -> None:
    if any(g % b for g, b in zip(grid, block, strict=True)):
        raise ValueError(f"{what} attention block {tuple(block)} does not divide the slice shape {tuple(grid)}")


def to_blocks(x: torch.Tensor, block: Triple) -> torch.Tensor:
    """(B, T, H, W, C) -> (B, N, L, C): N blocks of L = b_t b_h b_w positions in raster order."""
    batch, t, h, w, c = x.shape
    bt, bh, bw = block
    x = x.reshape(batch, t // bt, bt, h // bh, bh, w // bw, bw, c)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(batch, -1, bt * bh * bw, c)


def from_blocks(x: torch.Tensor, block: Triple, grid: Triple) -> torch.Tensor:
    """Inverse of :func:`to_blocks`."""
    batch, _, _, c = x.shape
    bt, bh, bw = block
    t, h, w = grid
    x = x.reshape(batch, t // bt, h // bh, w // bw, bt, bh, bw, c)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7)
    return x.reshape(batch, t, h, w, c)


class RelativePositionBias(nn.Module):
    """bias[head, q, k] = B_t[head, dt] + B_h[head, dh] + B_w[head, dw] with (dt, dh, dw) = pos_q - pos_k."""

    def __init__(self, num_heads: int, block: Triple):
        super().__init__()
        sizes = [2 * b - 1 for b in block]
        self.table = nn.Parameter(torch.zeros(num_heads, sum(sizes)))
        coords = torch.tensor(list(itertools.product(*(range(b) for b in block))))  # (L, 3)
        relative = coords[:, None, :] - coords[None, :, :] + torch.tensor(block) - 1  # in [0, 2b-2]
        offsets = torch.tensor([0, sizes[0], sizes[0] + sizes[1]])
        self.register_buffer("index", relative + offsets, persistent=False)  # (L, L, 3)

    def forward(self) -> torch.Tensor:
        """(heads, L, L)."""
        return self.table[:, self.index].sum(-1)

    def row(self, query: int) -> torch.Tensor:
        """(heads, L): the biases of one query position."""
        return self.table[:, self.index[query]].sum(-1)


class BlockSelfAttention(nn.Module):
    def __init__(
        self, width: int, attention_dim: int, num_heads: int, block: Triple, causal: bool, dropout: float = 0.0
    ):
        super().__init__()
        if attention_dim % num_heads:
            raise ValueError(f"attention dim {attention_dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = attention_dim // num_heads
        self.block = tuple(block)
        self.causal = causal
        self.query = nn.Linear(width, attention_dim, bias=False)
        self.key = nn.Linear(width, attention_dim, bias=False)
        self.value = nn.Linear(width, attention_dim, bias=False)
        self.output = nn.Linear(attention_dim, width)
        self.relative_bias = RelativePositionBias(num_heads, self.block)
        self.dropout = dropout
        length = math.prod(self.block)
        self.register_buffer("causal_mask", torch.ones(length, length).tril().bool(), persistent=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(-2, -3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, H, W, C) -> (B, T, H, W, C)."""
        grid = tuple(x.shape[1:4])
        blocks = to_blocks(x, self.block)  # (B, N, L, C)
        q, k, v = (self._heads(proj(blocks)) for proj in (self.query, self.key, self.value))  # (B, N, h, L, d)
        bias = self.relative_bias()
        if self.causal:
            bias = bias.masked_fill(~self.causal_mask, float("-inf"))
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        attended = attended.transpose(-2, -3).flatten(-2)  # (B, N, L, A)
        return from_blocks(self.output(attended), self.block, grid)

    def step(self, x: torch.Tensor, position: Triple, cache: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Causal attention output at one position given x (B, C) there; ``cache`` holds the keys and values
        (B, heads, T, H, W, d) of the grid, filled in raster order; this position's entries are written here."""
        keys, values = cache
        t, y, xx = position
        q = self.query(x).unflatten(-1, (self.num_heads, self.head_dim))  # (B, h, d)
        keys[:, :, t, y, xx] = self.key(x).unflatten(-1, (self.num_heads, self.head_dim))
        values[:, :, t, y, xx] = self.value(x).unflatten(-1, (self.num_heads, self.head_dim))
        bt, bh, bw = self.block
        origin = (t - t % bt, y - y % bh, xx - xx % bw)
        window = (
            slice(None),
            slice(None),
            slice(origin[0], origin[0] + bt),
            slice(origin[1], origin[1] + bh),
            slice(origin[2], origin[2] + bw),
        )
        block_keys = keys[window].flatten(2, 4)  # (B, h, L, d)
        block_values = values[window].flatten(2, 4)
        query_index = ((t % bt) * bh + y % bh) * bw + xx % bw
        logits = torch.einsum("bhd,bhld->bhl", q, block_keys) / math.sqrt(self.head_dim)
        logits = logits + self.relative_bias.row(query_index)
        logits = logits.masked_fill(~self.causal_mask[query_index], float("-inf"))
        attended = torch.einsum("bhl,bhld->bhd", logits.softmax(-1), block_values)
        return self.output(attended.flatten(-2))


class TransformerLayer(nn.Module):
    """Pre-LayerNorm block: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(
        self,
        width: int,
        attention_dim: int,
        ffn_dim: int,
        num_heads: int,
        block: Triple,
        causal: bool,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = BlockSelfAttention(width, attention_dim, num_heads, block, causal, dropout)
        self.ffn_norm = nn.LayerNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x)))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))

    def step(self, x: torch.Tensor, position: Triple, cache: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.attention.step(self.attention_norm(x), position, cache)
        return x + self.ffn(self.ffn_norm(x))
