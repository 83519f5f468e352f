"""Training order as a function of the seed and the step, so that a run resumed from ``last.ckpt`` sees exactly the
batches an uninterrupted run sees (Lightning restores weights, optimiser and step, but not a shuffled loader)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def step_seed(seed: int, *counters: int) -> int:
    """A well-mixed 63-bit seed for (seed, counters...), e.g. (seed, epoch) or (seed, step)."""
    return int(np.random.SeedSequence([seed, *counters]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class ResumableShuffle(Sampler[int]):
    """Every epoch a fresh permutation seeded by (seed, epoch); drops the last incomplete batch. The iterator starts
    at the batch of ``completed_steps()`` (the trainer's global step), so a resumed run continues mid-epoch."""

    def __init__(self, num_items: int, batch_size: int, seed: int, completed_steps: Callable[[], int]):
        if num_items < batch_size:
            raise ValueError(f"{num_items} training items do not fill one batch of {batch_size}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.completed_steps = completed_steps
        self.batches_per_epoch = num_items // batch_size

    def __len__(self) -> int:
        return self.batches_per_epoch * self.batch_size

    def __iter__(self) -> Iterator[int]:
        epoch, batch = divmod(self.completed_steps(), self.batches_per_epoch)
        generator = torch.Generator().manual_seed(step_seed(self.seed, epoch))
        order = torch.randperm(self.num_items, generator=generator)[: len(self)]
        yield from order[batch * self.batch_size :].tolist()
