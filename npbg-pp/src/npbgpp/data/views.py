"""Input-view selection for a target view by a baseline-angle score, and photometric jitter."""

from __future__ import annotations

import torch


def baseline_angles(centers: torch.Tensor, target_center: torch.Tensor, scene_center: torch.Tensor) -> torch.Tensor:
    """Angles (V,) in degrees between the rays from the scene centre to each camera and to the target camera."""
    to_views = torch.nn.functional.normalize(centers - scene_center, dim=-1)
    to_target = torch.nn.functional.normalize(target_center - scene_center, dim=-1)
    return torch.rad2deg(torch.arccos((to_views @ to_target).clamp(-1.0, 1.0)))


def baseline_scores(angles: torch.Tensor, optimum_deg: float, sigma_deg: float) -> torch.Tensor:
    """Gaussian preference for a baseline of ``optimum_deg`` degrees."""
    return torch.exp(-0.5 * ((angles - optimum_deg) / sigma_deg) ** 2)


def select_input_views(
    centers: torch.Tensor,
    candidates: torch.Tensor,
    target_center: torch.Tensor,
    scene_center: torch.Tensor,
    count: int,
    optimum_deg: float = 15.0,
    sigma_deg: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``count`` of the ``candidates`` view indices, drawn with probability proportional to the score
    (deterministic best scores when ``generator`` is None)."""
    angles = baseline_angles(centers[candidates], target_center, scene_center)
    scores = baseline_scores(angles, optimum_deg, sigma_deg) + 1e-6
    count = min(count, candidates.numel())
    if generator is None:
        order = torch.argsort(scores, descending=True)[:count]
    else:
        order = torch.multinomial(scores, count, replacement=False, generator=generator)
    return candidates[order]


def color_jitter(images: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The same random brightness and per-channel gain applied to all images (..., 3, H, W) of one sample."""
    if strength <= 0:
        return images
    brightness = 1.0 + strength * (2 * torch.rand((), generator=generator) - 1)
    gains = 1.0 + 0.5 * strength * (2 * torch.rand(3, generator=generator) - 1)
    return (images * brightness * gains.view(3, 1, 1)).clamp(0.0, 1.0)


def random_crop_camera(intrinsics: torch.Tensor, height: int, width: int, crop: int,
                       generator: torch.Generator | None = None):
    """(intrinsics of a crop x crop window, top, left); a crop larger than the image keeps the image."""
    if crop >= height and crop >= width:
        return intrinsics, 0, 0
    top = int(torch.randint(0, max(1, height - crop + 1), (), generator=generator))
    left = int(torch.randint(0, max(1, width - crop + 1), (), generator=generator))
    cropped = intrinsics.clone()
    cropped[0, 2] -= left
    cropped[1, 2] -= top
    return cropped, top, left
