import math

import pytest
import torch
from conftest import tiny_transformer
from lvt.losses import dataset_bits_per_dim, slice_cross_entropy


def test_uniform_model_scores_exactly_log2_k():
    model = tiny_transformer()
    with torch.no_grad():
        for head in model.heads:
            head.net[-1].weight.zero_()
            head.net[-1].bias.zero_()
    videos = torch.randint(0, 5, (3, 4, 4, 4, 2))
    assert dataset_bits_per_dim(model, videos, num_priming_frames=1) == pytest.approx(math.log2(5), abs=1e-12)


def test_priming_positions_are_excluded():
    logits = torch.randn(2, 3, 2, 2, 1, 4)
    targets = torch.randint(0, 4, (2, 3, 2, 2, 1))
    index = torch.tensor([0, 1])  # subscale (2, 1, 1): slice 0 holds frames 0, 2, 4; slice 1 frames 1, 3, 5
    nats, dims = slice_cross_entropy(logits, targets, index, (2, 1, 1), num_priming_frames=2)
    # slice 0 keeps frames 2, 4 (t' = 1, 2); slice 1 keeps frames 3, 5 (t' = 1, 2)
    assert dims.item() == 2 * 2 * 4
    changed = logits.clone()
    changed[:, 0] += torch.randn_like(changed[:, 0])
    assert torch.allclose(slice_cross_entropy(changed, targets, index, (2, 1, 1), 2)[0], nats)
    kept_logits, kept_targets = logits[:, 1:].reshape(-1, 4), targets[:, 1:].reshape(-1)
    manual = torch.nn.functional.cross_entropy(kept_logits, kept_targets, reduction="sum")
    assert torch.allclose(nats, manual)


def test_bits_per_dim_equals_sampler_side_log_likelihood():
    """Teacher-forced bits/dim equals -log2 p(Z) accumulated position by position through the cached decoder."""
    model = tiny_transformer()
    video = torch.randint(0, 5, (2, 4, 4, 4, 2))
    teacher_forced = dataset_bits_per_dim(model, video, num_priming_frames=1)
    total, count = 0.0, 0
    from lvt.sampling import _positions_by_slice

    for n, positions in _positions_by_slice(model):
        cache = model.start_decoding(video, n)
        for (t, y, x), inner in positions:
            hidden = model.decode_step(cache, inner)
            if t >= 1:
                for k in range(2):
                    log_probs = model.channel_logits(hidden, video[:, t, y, x], k).log_softmax(-1)
                    total -= log_probs.gather(-1, video[:, t, y, x, k : k + 1]).sum().item()
                    count += 2
            model.write_tokens(cache, inner, video[:, t, y, x])
    assert teacher_forced == pytest.approx(total / math.log(2) / count, rel=1e-9)
