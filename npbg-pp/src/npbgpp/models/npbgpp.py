"""NPBG++: modeling stage (align, extract, aggregate online) and rendering stage (rasterise, refine, rotate back)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from shared_utils.cameras import project
from shared_utils.errors import InputError
from torch import nn

from npbgpp.config import NPBGPPConfig
from npbgpp.models.aggregator import AggregationState, HarmonicBasis, evaluate_descriptors
from npbgpp.models.alignment import canonical_views, warp_from_canonical, warp_to_canonical
from npbgpp.models.extractor import UNetFeatureExtractor
from npbgpp.models.rasterizer import rasterize_multiscale
from npbgpp.models.refiner import GatedUNetRefiner
from npbgpp.models.sampling import sample_bilinear
from npbgpp.models.visibility import zbuffer_visibility


@dataclass
class PointDescriptors:
    """A built scene: the points seen in at least one view and their coefficients beta (N, m, c), beta0 (N, c)."""

    points: torch.Tensor
    beta: torch.Tensor
    beta0: torch.Tensor

    def state_dict(self) -> dict:
        return {"points": self.points, "beta": self.beta, "beta0": self.beta0}


def view_directions(points: torch.Tensor, w2c: torch.Tensor) -> torch.Tensor:
    """Unit directions (N, 3) from the camera centre of ``w2c`` (4, 4) towards each point."""
    center = -(w2c[:3, :3].T @ w2c[:3, 3])
    return torch.nn.functional.normalize(points - center, dim=-1)


class NPBGPP(nn.Module):
    def __init__(self, cfg: NPBGPPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.extractor = UNetFeatureExtractor(cfg.extractor)
        self.basis = HarmonicBasis(cfg.aggregator.basis_size, cfg.aggregator.hidden, cfg.aggregator.num_frequencies)
        self.refiner = GatedUNetRefiner(cfg.extractor.out_channels, cfg.render.refiner_channels)
        if len(cfg.render.refiner_channels) != cfg.render.num_scales:
            raise InputError(
                f"render.refiner_channels has {len(cfg.render.refiner_channels)} levels but render.num_scales is "
                f"{cfg.render.num_scales}"
            )

    def canonical(self, intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int):
        render = self.cfg.render
        return canonical_views(intrinsics, w2c, height, width, tuple(render.up_axis), render.pad_multiple,
                               render.align)

    # ----- modeling stage -------------------------------------------------------------------------------------
    def accumulate_view(self, state: AggregationState, points: torch.Tensor, image: torch.Tensor,
                        intrinsics: torch.Tensor, w2c: torch.Tensor) -> AggregationState:
        """Add one input view (image (3, H, W), intrinsics (3, 3), w2c (4, 4)) to the running states."""
        height, width = image.shape[-2:]
        visible = zbuffer_visibility(points, intrinsics, w2c, height, width, self.cfg.render.visibility_scale)
        point_ids = torch.nonzero(visible).flatten()
        if point_ids.numel() == 0:
            return state
        views = self.canonical(intrinsics[None], w2c[None], height, width)
        features = self.extractor(warp_to_canonical(image[None], views))[0]
        for chunk in point_ids.split(self.cfg.render.point_chunk):
            uv, _ = project(points[chunk], views.intrinsics[0], views.w2c[0])
            samples = sample_bilinear(features, uv)
            basis = self.basis(view_directions(points[chunk], w2c))
            state = state.update(chunk, basis, samples)
        return state

    def aggregate(self, views: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                  points: torch.Tensor) -> PointDescriptors:
        """Consume (image, intrinsics, w2c) views one at a time (any iterable, e.g. a lazy loader)."""
        state = AggregationState.zeros(points.shape[0], self.basis.basis_size, self.extractor.out_channels,
                                       device=points.device, dtype=points.dtype)
        for image, intrinsics, w2c in views:
            state = self.accumulate_view(state, points, image, intrinsics, w2c)
        beta, beta0, seen = state.solve(self.cfg.aggregator.ridge_alpha)
        if not bool(seen.any()):
            raise InputError("the point cloud lies outside every input view (no point is visible)")
        return PointDescriptors(points[seen], beta, beta0)

    # ----- rendering stage ------------------------------------------------------------------------------------
    def render_with(self, descriptor_fn, points: torch.Tensor, intrinsics: torch.Tensor, w2c: torch.Tensor,
                    height: int, width: int, drop_probability=None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Render (B, 3, H, W) for cameras (B, 3, 3), (B, 4, 4); ``descriptor_fn(w2c) -> (N, c)``.

        ``drop_probability(scale) -> p`` randomly empties rasterised pixels (self-supervised regularisation), drawn
        from ``generator`` (the global one when None).
        """
        views = self.canonical(intrinsics, w2c, height, width)
        per_scale: list[list[torch.Tensor]] = [[] for _ in range(self.cfg.render.num_scales)]
        for index in range(w2c.shape[0]):
            descriptors = descriptor_fn(w2c[index])
            rasters = rasterize_multiscale(points, descriptors, views.intrinsics[index], views.w2c[index],
                                           views.size, views.size, self.cfg.render.num_scales)
            for level, raster in enumerate(rasters):
                if drop_probability is not None:
                    draw = torch.rand(raster.shape[-2:], device=raster.device, generator=generator)
                    keep = draw >= drop_probability(0.5**level)
                    raster = raster * keep.to(raster.dtype)
                per_scale[level].append(raster)
        canonical_images = self.refiner([torch.stack(level) for level in per_scale])
        return warp_from_canonical(canonical_images, views)

    def render(self, scene: PointDescriptors, intrinsics: torch.Tensor, w2c: torch.Tensor, height: int,
               width: int) -> torch.Tensor:
        def descriptors(camera_w2c):
            basis = self.basis(view_directions(scene.points, camera_w2c))
            return evaluate_descriptors(basis, scene.beta, scene.beta0)

        return self.render_with(descriptors, scene.points, intrinsics, w2c, height, width)

    def render_self_supervised(self, points: torch.Tensor, image: torch.Tensor, intrinsics: torch.Tensor,
                               w2c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Refiner applied to the target view's own descriptors (sampled from its features), pixels dropped
        with probability scale / 2 at each scale; returns (3, H, W) in the target orientation."""
        height, width = image.shape[-2:]
        visible = zbuffer_visibility(points, intrinsics, w2c, height, width, self.cfg.render.visibility_scale)
        visible_points = points[visible]
        if visible_points.shape[0] == 0:
            raise InputError("the point cloud lies outside the target view (no point is visible)")
        views = self.canonical(intrinsics[None], w2c[None], height, width)
        features = self.extractor(warp_to_canonical(image[None], views))[0]
        uv, _ = project(visible_points, views.intrinsics[0], views.w2c[0])
        own = sample_bilinear(features, uv)
        return self.render_with(lambda _: own, visible_points, intrinsics[None], w2c[None], height, width,
                                drop_probability=lambda scale: scale / 2.0, generator=generator)[0]
