"""A scene as NPBG++ consumes it: posed images plus a point cloud, validated once on construction.

``SceneData`` holds every image in memory (training, evaluation); ``SceneFrames`` keeps them on disk and reads one
at a time, so that building a scene's descriptors (the online aggregation of eq. 3-5) needs memory for one image
whatever the number of views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from shared_utils.errors import InputError, check_finite, check_shape


class _PosedViews:
    """What both scene forms share: cameras, cloud, hold-out mask, and views read one at a time."""

    name: str
    intrinsics: torch.Tensor
    w2c: torch.Tensor
    points: torch.Tensor
    holdout: torch.Tensor

    def image(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    @property
    def input_indices(self) -> torch.Tensor:
        return torch.nonzero(~self.holdout).flatten()

    @property
    def holdout_indices(self) -> torch.Tensor:
        return torch.nonzero(self.holdout).flatten()

    def camera_centers(self) -> torch.Tensor:
        rotation, translation = self.w2c[:, :3, :3], self.w2c[:, :3, 3:]
        return -(rotation.transpose(-1, -2) @ translation)[..., 0]

    def views(self, indices: Sequence[int] | torch.Tensor, device) -> Iterator[tuple[torch.Tensor, ...]]:
        """(image (3, H, W), intrinsics, w2c) of each frame in ``indices``, one at a time."""
        for index in torch.as_tensor(indices).tolist():
            yield self.image(index).to(device), self.intrinsics[index].to(device), self.w2c[index].to(device)


@dataclass
class SceneData(_PosedViews):
    """Images (V, 3, H, W) in [0, 1], OpenCV intrinsics (V, 3, 3), world-to-camera (V, 4, 4), points (N, 3).

    ``holdout`` (V,) marks frames that are never used as input views (evaluation targets only).
    """

    name: str
    images: torch.Tensor
    intrinsics: torch.Tensor
    w2c: torch.Tensor
    points: torch.Tensor
    holdout: torch.Tensor

    def __post_init__(self) -> None:
        validate_scene(self)

    @property
    def height(self) -> int:
        return int(self.images.shape[-2])

    @property
    def width(self) -> int:
        return int(self.images.shape[-1])

    def image(self, index: int) -> torch.Tensor:
        return self.images[index]


@dataclass
class SceneFrames(_PosedViews):
    """A scene whose images stay on disk: ``read_frame(i)`` gives frame i as (H, W, 3) in [0, 1] (or uint8).

    Cameras and cloud are validated on construction, each image when it is read (finite, the first frame's size).
    ``load()`` reads every frame into a ``SceneData``.
    """

    name: str
    read_frame: Callable[[int], np.ndarray]
    intrinsics: torch.Tensor
    w2c: torch.Tensor
    points: torch.Tensor
    holdout: torch.Tensor
    _size: tuple[int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate_cameras(self, self.w2c.shape[0])

    def image(self, index: int) -> torch.Tensor:
        image = image_tensor(self.read_frame(index), f"scene '{self.name}' frame {index}")
        size = tuple(image.shape[-2:])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise InputError(f"scene '{self.name}' images have differing sizes {sorted({self._size, size})}; "
                             "resize them to one size first")
        check_finite(image, f"scene '{self.name}' frame {index}")
        return image

    @property
    def height(self) -> int:
        return self._frame_size()[0]

    @property
    def width(self) -> int:
        return self._frame_size()[1]

    def _frame_size(self) -> tuple[int, int]:
        if self._size is None:
            self.image(0)
        return self._size

    def load(self) -> SceneData:
        count = self.w2c.shape[0]
        images = torch.empty(count, 3, self.height, self.width)
        for index in range(count):
            images[index] = self.image(index)
        return SceneData(self.name, images, self.intrinsics, self.w2c, self.points, self.holdout)

    @classmethod
    def from_numpy(cls, name: str, read_frame: Callable[[int], np.ndarray], intrinsics: np.ndarray,
                   w2c: np.ndarray, points: np.ndarray, holdout: np.ndarray) -> SceneFrames:
        return cls(name, read_frame, torch.as_tensor(np.asarray(intrinsics), dtype=torch.float32),
                   torch.as_tensor(np.asarray(w2c), dtype=torch.float32),
                   torch.as_tensor(np.asarray(points), dtype=torch.float32),
                   torch.as_tensor(np.asarray(holdout), dtype=torch.bool))


def image_tensor(image: np.ndarray, what: str) -> torch.Tensor:
    """(H, W, 3) in [0, 1] or uint8 -> (3, H, W) float32."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"{what} has shape {image.shape}, expected (H, W, 3)")
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    return torch.from_numpy(image.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def validate_scene(scene: SceneData) -> None:
    name = f"scene '{scene.name}'"
    check_shape(scene.images, (None, 3, None, None), f"{name} images")
    validate_cameras(scene, scene.images.shape[0])
    check_finite(scene.images, f"{name} images")


def validate_cameras(scene: _PosedViews, num_views: int) -> None:
    name = f"scene '{scene.name}'"
    if num_views == 0:
        raise InputError(f"{name} has no images")
    if scene.intrinsics.shape[0] != num_views or scene.w2c.shape[0] != num_views:
        raise InputError(
            f"{name} has {num_views} images but {scene.intrinsics.shape[0]} intrinsics and "
            f"{scene.w2c.shape[0]} poses"
        )
    check_shape(scene.intrinsics, (num_views, 3, 3), f"{name} intrinsics")
    check_shape(scene.w2c, (num_views, 4, 4), f"{name} camera poses")
    check_shape(scene.points, (None, 3), f"{name} point cloud")
    check_shape(scene.holdout, (num_views,), f"{name} hold-out mask")
    if scene.points.shape[0] == 0:
        raise InputError(f"{name} point cloud is empty (0 points)")
    for tensor, what in (
        (scene.intrinsics, "intrinsics"),
        (scene.w2c, "camera poses"),
        (scene.points, "point cloud"),
    ):
        check_finite(tensor, f"{name} {what}")
    determinants = torch.linalg.det(scene.intrinsics.double())
    if bool((determinants.abs() < 1e-12).any()):
        bad = int(torch.nonzero(determinants.abs() < 1e-12)[0])
        raise InputError(f"{name} intrinsics of view {bad} are singular")
    rotations = scene.w2c[:, :3, :3].double()
    orthogonality = (rotations @ rotations.transpose(-1, -2) - torch.eye(3, dtype=torch.float64)).abs().amax((-1, -2))
    if bool((orthogonality > 1e-3).any()):
        bad = int(torch.nonzero(orthogonality > 1e-3)[0])
        raise InputError(f"{name} pose of view {bad} is not a rigid transform (singular or scaled rotation)")
    if bool(scene.holdout.all()):
        raise InputError(f"{name} has no input views (every frame is a hold-out frame)")


def subsample_points(points: torch.Tensor, max_points: int | None, seed: int = 0) -> torch.Tensor:
    """Randomly keep at most ``max_points`` points (the documented handling of huge clouds)."""
    if max_points is None or points.shape[0] <= max_points:
        return points
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(points.shape[0], generator=generator)[:max_points]
    return points[keep.sort().values]


def scene_from_numpy(
    name: str,
    images: np.ndarray,
    intrinsics: np.ndarray,
    w2c: np.ndarray,
    points: np.ndarray,
    holdout: np.ndarray,
) -> SceneData:
    """Build a SceneData from (V, H, W, 3) images in [0, 1] or uint8 and numpy cameras."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"scene '{name}' images have shape {images.shape}, expected (V, H, W, 3)")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return SceneData(
        name=name,
        images=torch.from_numpy(images.astype(np.float32) / scale).permute(0, 3, 1, 2).contiguous(),
        intrinsics=torch.as_tensor(np.asarray(intrinsics), dtype=torch.float32),
        w2c=torch.as_tensor(np.asarray(w2c), dtype=torch.float32),
        points=torch.as_tensor(np.asarray(points), dtype=torch.float32),
        holdout=torch.as_tensor(np.asarray(holdout), dtype=torch.bool),
    )
