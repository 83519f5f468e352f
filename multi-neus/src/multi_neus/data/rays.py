"""Ray batches for training: one scene per batch, rays drawn from up to ``images_per_batch`` of its images."""

from __future__ import annotations

import numpy as np
import torch

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


class MultiSceneRayBatches:
    """Batches {scene, view, pixels, intrinsics, c2w, rgb, mask}, each of one scene, ``batches_per_epoch`` per pass.

    Batch number i is drawn from a generator seeded with (seed, rank, i) alone, and the count of batches drawn is
    saved in Lightning checkpoints (``state_dict``), so a run resumed from any ``last.ckpt`` draws exactly the
    batches the uninterrupted run would have drawn. Finite passes give Lightning epoch ends.
    """

    def __init__(self, scenes: list[SceneRays], num_rays: int, max_images: int, seed: int = 0,
                 batches_per_epoch: int = 250):
        self.scenes, self.num_rays, self.max_images, self.seed = scenes, num_rays, max_images, seed
        self.batches_per_epoch = batches_per_epoch
        self.drawn = 0

    def __len__(self) -> int:
        # A known length lets Lightning treat the pass as a complete epoch and fetch no batch ahead of the step.
        return self.batches_per_epoch

    def state_dict(self) -> dict:
        return {"drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        self.drawn = int(state["drawn"])

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = torch.distributed.get_rank() if distributed else 0
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * rank + index)
        scene = int(torch.randint(len(self.scenes), (1,), generator=generator))
        batch = self.scenes[scene].sample(generator, self.num_rays, self.max_images)
        batch["scene"] = torch.tensor(scene)
        return batch

    def __iter__(self):
        # A resumed run restarts the epoch that was interrupted: only its remaining batches are drawn.
        remaining = self.batches_per_epoch - self.drawn % self.batches_per_epoch
        for _ in range(remaining):
            batch = self.batch(self.drawn)
            self.drawn += 1
            yield batch
