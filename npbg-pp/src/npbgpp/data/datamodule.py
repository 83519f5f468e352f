"""Training samples over many scenes: a target view plus input views picked by baseline angle."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from npbgpp.config import NPBGPPConfig
from npbgpp.data.scene import SceneData
from npbgpp.data.views import color_jitter, random_crop_camera, select_input_views


def make_sample(scene: SceneData, target: int, inputs: torch.Tensor, crop: int | None, jitter: float,
                generator: torch.Generator | None) -> dict:
    images = scene.images[torch.cat([inputs, torch.tensor([target])])]
    images = color_jitter(images, jitter, generator)
    intrinsics = scene.intrinsics[target]
    target_image = images[-1]
    if crop is not None:
        intrinsics, top, left = random_crop_camera(intrinsics, scene.height, scene.width, crop, generator)
        target_image = target_image[:, top: top + crop, left: left + crop]
    return {
        "scene": scene.name,
        "points": scene.points,
        "input_images": images[:-1],
        "input_intrinsics": scene.intrinsics[inputs],
        "input_w2c": scene.w2c[inputs],
        "target_image": target_image,
        "target_intrinsics": intrinsics,
        "target_w2c": scene.w2c[target],
        # The full target frame (same jitter) feeds the self-supervised regularisation.
        "target_full": images[-1],
        "target_full_intrinsics": scene.intrinsics[target],
    }


class TrainingSamples(Dataset):
    """Random (scene, target input view, other input views) triples; hold-out frames are never touched."""

    def __init__(self, scenes: list[SceneData], cfg: NPBGPPConfig) -> None:
        self.scenes = scenes
        self.cfg = cfg
        self.centers = [scene.camera_centers() for scene in scenes]
        self.scene_centers = [scene.points.mean(0) for scene in scenes]

    def __len__(self) -> int:
        return self.cfg.train.samples_per_epoch

    def __getitem__(self, position: int) -> dict:
        """The sample at ``position`` of the run's sample stream (see ``StreamPositions``)."""
        train = self.cfg.train
        seed = (self.cfg.seed * 1_000_003 + position * 2_654_435_761) % (2**63 - 1)
        generator = torch.Generator().manual_seed(seed)
        scene_id = int(torch.randint(len(self.scenes), (), generator=generator))
        scene = self.scenes[scene_id]
        candidates = scene.input_indices
        target = int(candidates[torch.randint(candidates.numel(), (), generator=generator)])
        others = candidates[candidates != target]
        inputs = select_input_views(self.centers[scene_id], others, self.centers[scene_id][target],
                                    self.scene_centers[scene_id], train.num_input_views, train.optimal_angle_deg,
                                    train.angle_sigma_deg, generator=generator)
        return make_sample(scene, target, inputs, train.crop_size, train.color_jitter, generator)


class StreamPositions(Sampler[int]):
    """Positions ``epoch * n ... epoch * n + n - 1`` of the training sample stream, ``n`` samples per epoch.

    A sample is a function of (seed, position) only, not of how much of a random stream was consumed before: a run
    resumed from last.ckpt draws the same samples as an uninterrupted one (Lightning calls ``set_epoch``, also on a
    restart, where it skips ``on_train_epoch_start``), and under DDP the ranks receive different positions.
    """

    def __init__(self, per_epoch: int) -> None:
        self.per_epoch = per_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_epoch

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.epoch * self.per_epoch, (self.epoch + 1) * self.per_epoch))


class ValidationSamples(Dataset):
    """Hold-out frames of the training scenes with deterministic input views, no jitter, full frames."""

    def __init__(self, scenes: list[SceneData], cfg: NPBGPPConfig) -> None:
        self.items = []
        for scene in scenes:
            centers = scene.camera_centers()
            for target in scene.holdout_indices.tolist():
                inputs = select_input_views(centers, scene.input_indices, centers[target], scene.points.mean(0),
                                            cfg.train.num_input_views, cfg.train.optimal_angle_deg,
                                            cfg.train.angle_sigma_deg)
                self.items.append((scene, target, inputs))
        self.items = self.items[: cfg.train.val_frames]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        scene, target, inputs = self.items[index]
        return make_sample(scene, target, inputs, None, 0.0, None)


def keep_list(batch: list[dict]) -> list[dict]:
    """Scenes have different point counts, so a batch stays a list of samples."""
    return batch


class NPBGPPDataModule(L.LightningDataModule):
    def __init__(self, train_scenes: list[SceneData], cfg: NPBGPPConfig) -> None:
        super().__init__()
        self.train_scenes = train_scenes
        self.cfg = cfg

    def train_dataloader(self) -> DataLoader:
        samples = TrainingSamples(self.train_scenes, self.cfg)
        return DataLoader(samples, batch_size=self.cfg.train.batch_size, sampler=StreamPositions(len(samples)),
                          collate_fn=keep_list, num_workers=self.cfg.train.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(ValidationSamples(self.train_scenes, self.cfg), batch_size=1, collate_fn=keep_list,
                          num_workers=0)
