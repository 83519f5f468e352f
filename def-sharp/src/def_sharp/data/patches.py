"""Network input normalisation and the torch Dataset / LightningDataModule over patch shards."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

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
    """Items: input (1, H, W) float32, distance (H, W) float32, mask (H, W) bool."""

    def __init__(self, patches: PatchArrays, input_scale: float, background: float, augment: bool, seed: int = 0):
        self.inputs = normalise_depth(patches.depth, patches.mask, input_scale, background)
        self.patches = patches
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        arrays = [self.inputs[index], self.patches.distance[index], self.patches.mask[index]]
        if self.augment:
            # Flips and quarter turns of an orthographic range image are range images of the mirrored / rotated
            # scene, and the distance field transforms with them.
            turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            arrays = [np.rot90(a, turns) for a in arrays]
            if flip:
                arrays = [a[:, ::-1] for a in arrays]
        image, distance, mask = (np.ascontiguousarray(a) for a in arrays)
        return {
            "input": torch.from_numpy(image)[None],
            "distance": torch.from_numpy(distance),
            "mask": torch.from_numpy(mask),
        }


class PatchDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, data_dir: Path, batch_size: int, input_scale: float, seed: int = 0):
        super().__init__()
        self.cfg, self.data_dir, self.batch_size = cfg, data_dir, batch_size
        self.input_scale, self.seed = input_scale, seed
        self.datasets: dict[str, PatchDataset] = {}

    def dataset(self, split: str) -> PatchDataset:
        if split not in self.datasets:
            self.datasets[split] = PatchDataset(
                load_split(self.data_dir, split), self.input_scale, self.cfg.background_value,
                augment=self.cfg.augment and split == "train", seed=self.seed,
            )
        return self.datasets[split]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.cfg.loader_workers, drop_last=shuffle,
                          persistent_workers=self.cfg.loader_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
