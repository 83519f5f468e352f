"""The training stream is a function of (seed, epoch, position): resuming at any step replays the uninterrupted
stream from there on, inside an epoch and at an epoch's end alike."""

import numpy as np
import pytest
from def_sharp.data.patches import TrainingStream


def _batches(stream: TrainingStream, passes: int) -> list[list[tuple]]:
    """The batches a DataLoader with drop_last draws from `passes` passes (epochs) over the stream."""
    batches = []
    for _ in range(passes):
        items = list(stream)
        size = stream.batch_size
        batches += [items[i : i + size] for i in range(0, len(items) - size + 1, size)]
    return batches


@pytest.mark.parametrize("resume_step", [1, 3, 4, 6, 8])
def test_resumed_stream_replays_the_uninterrupted_batches(resume_step):
    # 18 items in batches of 4: 4 batches per epoch, 2 items of each pass unused (drop_last).
    uninterrupted = _batches(TrainingStream(18, 4, seed=3, augment=True), passes=3)
    resumed_stream = TrainingStream(18, 4, seed=3, augment=True)
    resumed_stream.resume_at(resume_step)
    resumed = _batches(resumed_stream, passes=3 - resume_step // 4)
    assert resumed == uninterrupted[resume_step:]


def test_each_pass_is_a_permutation_with_augmentation_drawn_per_position():
    stream = TrainingStream(50, 5, seed=0, augment=True)
    first, second = list(stream), list(stream)
    assert sorted(i for i, _, _ in first) == list(range(50)) == sorted(i for i, _, _ in second)
    assert first != second
    assert {t for _, t, _ in first} == {0, 1, 2, 3} and {f for _, _, f in first} == {False, True}
    plain = list(TrainingStream(50, 5, seed=0, augment=False))
    assert all(t == 0 and not f for _, t, f in plain)
    assert np.array_equal([i for i, _, _ in plain], [i for i, _, _ in first])
