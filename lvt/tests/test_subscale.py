import itertools

import pytest
import torch
from conftest import tiny_transformer
from lvt.models.subscale import generation_order, slice_shape, to_slices, trainable_slices
from lvt.sampling import sample_latents
from shared_utils.errors import InputError

FACTORS = [(1, 1, 1), (2, 2, 2), (4, 1, 1), (1, 2, 4), (2, 1, 2), (4, 4, 4)]


def explicit_eq2_order(shape, s):
    """pi of eq. 2 written out: slices in subscale order (a, b, c), raster (t', y', x') inside, as sort keys."""
    positions = list(itertools.product(*(range(n) for n in shape)))
    key = lambda p: (p[0] % s[0], p[1] % s[1], p[2] % s[2], p[0] // s[0], p[1] // s[1], p[2] // s[2])  # noqa: E731
    return sorted(positions, key=key)


@pytest.mark.parametrize("s", FACTORS)
def test_generation_order_equals_explicit_enumeration(s):
    shape = (4, 4, 8)
    order = generation_order(shape, s)
    assert order == explicit_eq2_order(shape, s)
    assert len(set(order)) == 4 * 4 * 8


@pytest.mark.parametrize("s", FACTORS)
def test_slices_are_strided_subsets_in_subscale_order(s):
    video = torch.randn(2, 3, 4, 4, 8)
    slices = to_slices(video, s)
    for n, (a, b, c) in enumerate(itertools.product(*(range(f) for f in s))):
        assert torch.equal(slices[:, n], video[:, :, a :: s[0], b :: s[1], c :: s[2]])
    assert slices.shape[1] == s[0] * s[1] * s[2]


@pytest.mark.parametrize("cached", [True, False])
@pytest.mark.parametrize("s", [(2, 2, 2), (4, 1, 1), (1, 2, 2), (2, 1, 4)])
def test_sampler_visits_positions_and_channels_in_eq2_order(s, cached):
    blocks = [tuple(n // f for n, f in zip((4, 4, 4), s, strict=True))]
    model = tiny_transformer(subscale=s, encoder_blocks=blocks, decoder_blocks=blocks)
    primer = torch.randint(0, 5, (2, 1, 4, 4, 2))
    visited = []
    sample_latents(model, primer, seed=0, cached=cached, callback=lambda *p: visited.append(p))
    expected = [(t, y, x, k) for t, y, x in explicit_eq2_order((4, 4, 4), s) if t >= 1 for k in range(2)]
    assert visited == expected


def test_indivisible_shape_is_an_input_error():
    with pytest.raises(InputError, match="not divisible"):
        slice_shape((5, 4, 4), (2, 1, 1))


def test_trainable_slices_skip_fully_primed_slices():
    assert trainable_slices(4, (4, 1, 1), 1) == [1, 2, 3]
    assert trainable_slices(4, (2, 1, 1), 1) == [0, 1]
    assert trainable_slices(4, (2, 1, 1), 3) == [1]
