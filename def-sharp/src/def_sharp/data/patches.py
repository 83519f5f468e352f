"""Network input normalisation and the torch Dataset / LightningDataModule over patch shards."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from def_sharp.config import DataConfig
from def_sharp.data.defsim import PatchArrays, load_manifest, load_split


def normalise_depth(depth: np.ndarray, mask: np.ndarray, scale: float, background: float) -> np.ndarray:
    """DEF input: depth minus the patch's minimum surface depth, divided by a fixed scale; background pixels get a
    constant. depth, mask: (..., H, W); the minimum is taken per patch over its surface pixels."""
    depth = np.asarray(depth, dtype=np.float32)
    masked = np.where(mask, depth, np.inf)
    minimum = masked.reshape(*depth.shape[:-2], -1).min(-1)[..., None, None]
    minimum = np.where(np.isfinite(minimum), minimum, 0.0)
    return np.where(mask, (depth - minimum) / scale, background).astype(np.float32)


def resolve_input_scale(cfg: DataConfig, data_dir: Path) -> float:
    if cfg.input_scale is not None:
        return float(cfg.input_scale)
    return float(load_manifest(data_dir)["splits"]["train"]["depth_range_q95"])


class PatchDataset(Dataset):
    """Items: input (1, H, W) float32, distance (H, W) float32, mask (H, W) bool. An item is asked for by patch
    index, or by (patch index, quarter turns, flip) from a `TrainingStream`."""

    def __init__(self, patches: PatchArrays, input_scale: float, background: float):
        self.inputs = normalise_depth(patches.depth, patches.mask, input_scale, background)
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, item: int | tuple[int, int, bool]) -> dict[str, torch.Tensor]:
        index, turns, flip = item if isinstance(item, tuple) else (item, 0, False)
        arrays = [self.inputs[index], self.patches.distance[index], self.patches.mask[index]]
        # Flips and quarter turns of an orthographic range image are range images of the mirrored / rotated scene,
        # and the distance field transforms with them.
        arrays = [np.rot90(a, turns) for a in arrays]
        if flip:
            arrays = [a[:, ::-1] for a in arrays]
        image, distance, mask = (np.ascontiguousarray(a) for a in arrays)
        return {
            "input": torch.from_numpy(image)[None],
            "distance": torch.from_numpy(distance),
            "mask": torch.from_numpy(mask),
        }


class TrainingStream(Sampler):
    """Order and augmentation of the training patches as a function of (seed, epoch, position) only.

    Each pass (epoch) draws a permutation and per-position flips / quarter turns from a generator seeded with
    (seed, epoch). `resume_at(global_step)` makes the next pass start at that step's epoch and batch, so that a run
    resumed from a checkpoint trains on exactly the batches an uninterrupted run would (the loader's own shuffling
    state is not in Lightning's checkpoint). Assumes one optimizer step per batch (no gradient accumulation).
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, augment: bool):
        self.n_items, self.batch_size, self.seed, self.augment = n_items, batch_size, seed, augment
        self.batches_per_epoch = max(1, n_items // batch_size)
        self.next_epoch, self.skip_batches = 0, 0

    def resume_at(self, global_step: int) -> None:
        self.next_epoch, self.skip_batches = divmod(global_step, self.batches_per_epoch)

    def __len__(self) -> int:
        # The whole pass, also when resuming inside it: Lightning counts the batches it already ran.
        return self.n_items

    def __iter__(self):
        epoch, first = self.next_epoch, self.skip_batches * self.batch_size
        self.next_epoch, self.skip_batches = epoch + 1, 0
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n_items)
        turns = rng.integers(4, size=self.n_items) if self.augment else np.zeros(self.n_items, dtype=int)
        flips = rng.integers(2, size=self.n_items) if self.augment else np.zeros(self.n_items, dtype=int)
        for position in range(first, self.n_items):
            yield int(order[position]), int(turns[position]), bool(flips[position])


class PatchDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, data_dir: Path, batch_size: int, input_scale: float, seed: int = 0):
        super().__init__()
        self.cfg, self.data_dir, self.batch_size = cfg, data_dir, batch_size
        self.input_scale, self.seed = input_scale, seed
        self.datasets: dict[str, PatchDataset] = {}

    def dataset(self, split: str) -> PatchDataset:
        if split not in self.datasets:
            self.datasets[split] = PatchDataset(load_split(self.data_dir, split), self.input_scale,
                                                self.cfg.background_value)
        return self.datasets[split]

    def _loader(self, dataset: PatchDataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, drop_last=sampler is not None,
                          num_workers=self.cfg.loader_workers, persistent_workers=self.cfg.loader_workers > 0)

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        stream = TrainingStream(len(dataset), self.batch_size, self.seed, self.cfg.augment)
        # Called once per fit, after Lightning restored the checkpoint's step counter.
        stream.resume_at(self.trainer.global_step if self.trainer is not None else 0)
        return self._loader(dataset, stream)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("test"))
