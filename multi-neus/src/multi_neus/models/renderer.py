"""NeuS volume rendering: unbiased weights from SDF differences, hierarchical up-sampling, background."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..config import RendererConfig
from ..geometry.rays import near_far_unit_sphere
from .multi_neus import MultiNeuS


def neus_alpha(sdf_prev: torch.Tensor, sdf_next: torch.Tensor, inv_s: torch.Tensor | float) -> torch.Tensor:
    """Discrete opacity of the section between two samples (NeuS eq. 13):
    alpha = max((Phi_s(f_i) - Phi_s(f_{i+1})) / Phi_s(f_i), 0), Phi_s the logistic CDF with slope s."""
    cdf_prev = torch.sigmoid(sdf_prev * inv_s)
    cdf_next = torch.sigmoid(sdf_next * inv_s)
    return ((cdf_prev - cdf_next + 1e-5) / (cdf_prev + 1e-5)).clamp(0.0, 1.0)


def alpha_to_weights(alpha: torch.Tensor) -> torch.Tensor:
    """w_i = alpha_i prod_{j<i} (1 - alpha_j) along the last dimension."""
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha], -1), -1)
    return alpha * transmittance[..., :-1]


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, n_samples: int, deterministic: bool = True) -> torch.Tensor:
    """Inverse-CDF sampling of ``n_samples`` depths from piecewise-constant weights over the intervals of ``bins``."""
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    if deterministic:
        u = torch.linspace(0.5 / n_samples, 1.0 - 0.5 / n_samples, n_samples, device=bins.device)
        u = u.expand(*cdf.shape[:-1], n_samples).contiguous()
    else:
        u = torch.rand(*cdf.shape[:-1], n_samples, device=bins.device)
    index = torch.searchsorted(cdf, u, right=True)
    below = (index - 1).clamp_min(0)
    above = index.clamp_max(cdf.shape[-1] - 1)
    cdf_below, cdf_above = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    bin_below, bin_above = torch.gather(bins, -1, below), torch.gather(bins, -1, above)
    denom = torch.where(cdf_above - cdf_below < 1e-5, torch.ones_like(cdf_below), cdf_above - cdf_below)
    return bin_below + (u - cdf_below) / denom * (bin_above - bin_below)


def _background(model: MultiNeuS, scene: int, origins, directions, far, cfg: RendererConfig) -> torch.Tensor:
    if model.backgrounds is None:
        return torch.full_like(origins, cfg.background_color)
    # Samples uniform in inverse depth from the sphere exit to infinity (NeRF++).
    t = torch.linspace(1e-3, 1.0, cfg.n_outside, device=origins.device)
    z = far / t.flip(0)
    points = origins[:, None] + directions[:, None] * z[..., None]
    density, rgb = model.backgrounds[scene](points)
    deltas = torch.cat([z[:, 1:] - z[:, :-1], torch.full_like(z[:, :1], 1e10)], -1)
    weights = alpha_to_weights(1.0 - torch.exp(-density * deltas))
    return (weights[..., None] * rgb).sum(1)


def render_rays(
    model: MultiNeuS,
    scene: int,
    origins: torch.Tensor,
    directions: torch.Tensor,
    cfg: RendererConfig,
    perturb: bool | None = None,
    need_gradients: bool = True,
) -> dict[str, torch.Tensor]:
    """Render (R,) rays of ``scene`` given in the normalised (unit-sphere) space."""
    perturb = cfg.perturb if perturb is None else perturb
    near, far = near_far_unit_sphere(origins, directions)
    steps = torch.linspace(0.0, 1.0, cfg.n_samples, device=origins.device)
    z = near + (far - near) * steps
    if perturb:
        z = z + (torch.rand_like(z) - 0.5) * (far - near) / cfg.n_samples
        z = z.sort(-1).values
    sdf_net = model.sdf_net
    if cfg.n_importance > 0:
        with torch.no_grad():
            points = origins[:, None] + directions[:, None] * z[..., None]
            sdf = sdf_net.sdf(points.reshape(-1, 3), scene).reshape(z.shape)
            per_step = cfg.n_importance // cfg.up_sample_steps
            for step in range(cfg.up_sample_steps):
                weights = alpha_to_weights(neus_alpha(sdf[:, :-1], sdf[:, 1:], cfg.base_inv_s * 2**step))
                new_z = sample_pdf(z, weights, per_step)
                new_points = origins[:, None] + directions[:, None] * new_z[..., None]
                new_sdf = sdf_net.sdf(new_points.reshape(-1, 3), scene).reshape(new_z.shape)
                z, order = torch.cat([z, new_z], -1).sort(-1)
                sdf = torch.gather(torch.cat([sdf, new_sdf], -1), -1, order)
    points = origins[:, None] + directions[:, None] * z[..., None]
    flat = points.reshape(-1, 3)
    if need_gradients:
        sdf, feature, gradient = sdf_net.with_gradient(flat, scene)
    else:
        sdf, feature, gradient = sdf_net.with_gradient(flat.detach(), scene, create_graph=False)
        sdf, feature, gradient = sdf.detach(), feature.detach(), gradient.detach()
    view_dirs = directions[:, None].expand_as(points).reshape(-1, 3)
    rgb = model.color_net(flat, gradient, feature, view_dirs, scene).reshape(*z.shape, 3)
    sdf = sdf.reshape(z.shape)
    inv_s = model.variance.inv_s()
    alpha = neus_alpha(sdf[:, :-1], sdf[:, 1:], inv_s)
    weights = alpha_to_weights(alpha)
    section_rgb = 0.5 * (rgb[:, :-1] + rgb[:, 1:])
    section_z = 0.5 * (z[:, :-1] + z[:, 1:])
    weight_sum = weights.sum(-1, keepdim=True)
    background = _background(model, scene, origins, directions, far, cfg)
    color = (weights[..., None] * section_rgb).sum(1) + (1.0 - weight_sum) * background
    gradient = gradient.reshape(*z.shape, 3)
    normals = F.normalize(gradient, dim=-1)
    inside = (points.norm(dim=-1) < 1.2).float()
    eikonal = (((gradient.norm(dim=-1) - 1.0) ** 2) * inside).sum() / inside.sum().clamp_min(1.0)
    return {
        "color": color,
        "weight_sum": weight_sum,
        "depth": (weights * section_z).sum(-1, keepdim=True),
        "normal": (weights[..., None] * 0.5 * (normals[:, :-1] + normals[:, 1:])).sum(1),
        "eikonal": eikonal,
        "inv_s": inv_s.detach(),
        "weights": weights,
        "z": z,
    }


@torch.no_grad()
def render_rays_chunked(model, scene, origins, directions, cfg: RendererConfig) -> dict[str, torch.Tensor]:
    """Inference rendering in chunks (no perturbation); returns color, weight_sum, depth, normal."""
    keys = ("color", "weight_sum", "depth", "normal")
    parts = {k: [] for k in keys}
    for start in range(0, origins.shape[0], cfg.chunk_rays):
        out = render_rays(
            model, scene, origins[start : start + cfg.chunk_rays], directions[start : start + cfg.chunk_rays],
            cfg, perturb=False, need_gradients=False,
        )
        for k in keys:
            parts[k].append(out[k])
    return {k: torch.cat(v) for k, v in parts.items()}
