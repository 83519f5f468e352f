"""Ray batches for training: one scene per batch, rays drawn from up to ``images_per_batch`` of its images."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .scene import Scene


class SceneRays:
    """The tensors of one scene in the normalised space, ready for ray sampling."""

    def __init__(self, scene: Scene):
        self.name = scene.name
        self.images = torch.from_numpy(np.ascontiguousarray(scene.images, dtype=np.float32))
        masks = scene.masks if scene.masks is not None else np.ones(scene.images.shape[:3], np.float32)
        self.masks = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32))
        self.intrinsics = torch.from_numpy(scene.intrinsics).float()
        self.c2w = torch.from_numpy(scene.normalized_c2w()).float()

    @property
    def num_views(self) -> int:
        return self.images.shape[0]

    def sample(self, generator: torch.Generator, num_rays: int, max_images: int) -> dict[str, torch.Tensor]:
        views_pool = torch.randperm(self.num_views, generator=generator)[: max(1, min(max_images, self.num_views))]
        views = views_pool[torch.randint(len(views_pool), (num_rays,), generator=generator)]
        height, width = self.images.shape[1:3]
        rows = torch.randint(height, (num_rays,), generator=generator)
        cols = torch.randint(width, (num_rays,), generator=generator)
        return {
            "view": views,
            "pixels": torch.stack([cols.float() + 0.5, rows.float() + 0.5], -1),
            "intrinsics": self.intrinsics[views],
            "c2w": self.c2w[views],
            "rgb": self.images[views, rows, cols],
            "mask": self.masks[views, rows, cols][:, None],
        }


class MultiSceneRayDataset(IterableDataset):
    """Batches {scene, view, pixels, intrinsics, c2w, rgb, mask}, each of one scene, ``batches_per_epoch`` per pass.

    Finite passes give Lightning epoch ends, where it writes last.ckpt, so an interrupted run resumes from there.
    """

    def __init__(self, scenes: list[SceneRays], num_rays: int, max_images: int, seed: int = 0,
                 batches_per_epoch: int = 250):
        super().__init__()
        self.scenes, self.num_rays, self.max_images, self.seed = scenes, num_rays, max_images, seed
        self.batches_per_epoch = batches_per_epoch
        self.passes = 0

    def __len__(self) -> int:
        # A known length lets Lightning treat the pass as a complete epoch (and run its epoch-end checkpointing).
        return self.batches_per_epoch

    def __iter__(self):
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = torch.distributed.get_rank() if distributed else 0
        worker = torch.utils.data.get_worker_info()
        self.passes += 1
        generator = torch.Generator().manual_seed(
            self.seed + 1000 * rank + 100 * (worker.id if worker else 0) + 100003 * self.passes
        )
        for _ in range(self.batches_per_epoch):
            scene = int(torch.randint(len(self.scenes), (1,), generator=generator))
            batch = self.scenes[scene].sample(generator, self.num_rays, self.max_images)
            batch["scene"] = torch.tensor(scene)
            yield batch
