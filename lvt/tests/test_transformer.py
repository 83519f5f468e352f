import itertools
import math

import pytest
import torch
from conftest import tiny_transformer
from lvt.models.attention import BlockSelfAttention
from lvt.models.subscale import generation_order
from lvt.models.transformer import MaskedConv3d
from lvt.sampling import sample_latents

SHAPE = (4, 4, 4)
S = (2, 2, 2)


def logits_of_slice(model, video, n):
    logits, _ = model(video, torch.full((video.shape[0],), n, dtype=torch.long))
    return logits  # (B, T', H', W', n_c, K)


def test_decoder_causality_within_slice_and_across_channels():
    """Changing token (p, k) never changes the logits of any earlier position, nor of channels <= k at p."""
    model = tiny_transformer()
    video = torch.randint(0, 5, (2, *SHAPE, 2))
    order = generation_order(SHAPE, S)
    per_slice = len(order) // 8
    for n in range(8):
        base = logits_of_slice(model, video, n).flatten(1, 3)  # (B, L, n_c, K)
        for i, (t, y, x) in enumerate(order[n * per_slice : (n + 1) * per_slice]):
            for k in range(2):
                changed = video.clone()
                changed[:, t, y, x, k] = (changed[:, t, y, x, k] + 1) % 5
                new = logits_of_slice(model, changed, n).flatten(1, 3)
                assert torch.equal(new[:, :i], base[:, :i]), (n, i, k)
                assert torch.equal(new[:, i, : k + 1], base[:, i, : k + 1]), (n, i, k)
                if k == 0:
                    assert not torch.equal(new[:, i, 1], base[:, i, 1])  # the head does read channel 0
                if i + 1 < per_slice:
                    assert not torch.equal(new[:, i + 1 :], base[:, i + 1 :])  # later positions do see it


def test_encoder_sees_only_earlier_slices():
    model = tiny_transformer()
    video = torch.randint(0, 5, (2, *SHAPE, 2))
    order = generation_order(SHAPE, S)
    per_slice = len(order) // 8
    for n in range(8):
        base = logits_of_slice(model, video, n)
        later = order[(n + 1) * per_slice :]
        if later:
            changed = video.clone()
            for t, y, x in later:
                changed[:, t, y, x] = torch.randint(0, 5, (2, 2))
            assert torch.equal(logits_of_slice(model, changed, n), base)
        if n > 0:
            t, y, x = order[0]
            changed = video.clone()
            changed[:, t, y, x] = (changed[:, t, y, x] + 1) % 5
            assert not torch.allclose(logits_of_slice(model, changed, n), base)


def test_masked_conv_kernel_covers_strictly_earlier_offsets():
    conv = MaskedConv3d(1, 1, (3, 3, 3))
    offsets = list(itertools.product(range(-1, 2), repeat=3))
    for (dt, dy, dx), value in zip(offsets, conv.mask.flatten().tolist(), strict=True):
        assert value == float((dt, dy, dx) < (0, 0, 0))


def test_masked_conv_single_position_matches_full_convolution():
    torch.manual_seed(1)
    conv = MaskedConv3d(3, 4, (3, 3, 3)).double()
    x = torch.randn(2, 3, 2, 4, 4, dtype=torch.float64)
    full = conv(x)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1, 1, 1))
    for position in itertools.product(range(2), range(4), range(4)):
        assert torch.allclose(conv.at(padded, position), full[(slice(None), slice(None), *position)])


def test_relative_position_bias_and_block_attention_match_explicit_computation():
    torch.manual_seed(2)
    block = (2, 2, 2)
    attention = BlockSelfAttention(6, 4, 2, block, causal=True).double()
    with torch.no_grad():
        attention.relative_bias.table.normal_()
    x = torch.randn(1, 2, 2, 4, 6, dtype=torch.float64)
    out = attention(x)
    # explicit: every position attends to the earlier-or-equal positions of its own 2x2x2 block
    positions = list(itertools.product(range(2), range(2), range(4)))
    table = attention.relative_bias.table
    q = attention.query(x[0]).reshape(2, 2, 4, 2, 2)
    k = attention.key(x[0]).reshape(2, 2, 4, 2, 2)
    v = attention.value(x[0]).reshape(2, 2, 4, 2, 2)
    for pq in positions:
        block_q = tuple(c // b for c, b in zip(pq, block, strict=True))
        keys = [pk for pk in positions if tuple(c // b for c, b in zip(pk, block, strict=True)) == block_q]
        keys = [pk for pk in keys if pk <= pq]
        heads = []
        for h in range(2):
            scores = []
            for pk in keys:
                d = [a - b for a, b in zip(pq, pk, strict=True)]
                bias = table[h, d[0] + 1] + table[h, 3 + d[1] + 1] + table[h, 6 + d[2] + 1]
                scores.append(q[pq][h] @ k[pk][h] / math.sqrt(2) + bias)
            weights = torch.softmax(torch.stack(scores), 0)
            heads.append(sum(w * v[pk][h] for w, pk in zip(weights, keys, strict=True)))
        expected = attention.output(torch.cat(heads))
        assert torch.allclose(out[0][pq], expected)


@pytest.mark.parametrize("s", [(2, 2, 2), (4, 1, 1)])
def test_cached_sampler_gives_the_naive_samples(s):
    blocks = [tuple(n // f for n, f in zip(SHAPE, s, strict=True))]
    model = tiny_transformer(subscale=s, encoder_blocks=blocks, decoder_blocks=blocks)
    primer = torch.randint(0, 5, (3, 1, 4, 4, 2))
    naive = sample_latents(model, primer, seed=7, cached=False)
    cached = sample_latents(model, primer, seed=7, cached=True)
    assert torch.equal(naive, cached)
    assert torch.equal(cached[:, :1], primer)
    assert not torch.equal(sample_latents(model, primer, seed=8, cached=True), cached)


def test_sampling_temperature_zero_limit_is_argmax_of_teacher_forced_logits():
    model = tiny_transformer()
    primer = torch.randint(0, 5, (2, 1, 4, 4, 2))
    video = sample_latents(model, primer, seed=0, temperature=1e-6)
    # a near-zero temperature picks the most likely token everywhere: check it on the teacher-forced logits
    order = generation_order(SHAPE, S)
    per_slice = len(order) // 8
    for n in range(8):
        logits = logits_of_slice(model, video, n).flatten(1, 3)
        for i, (t, y, x) in enumerate(order[n * per_slice : (n + 1) * per_slice]):
            if t >= 1:
                assert torch.equal(logits[:, i].argmax(-1), video[:, t, y, x])
