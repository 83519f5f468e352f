import math

import torch
from multi_neus.models.renderer import alpha_to_weights, neus_alpha, sample_pdf


def _sphere_rays(n_rays=16, n_samples=256, radius=0.5):
    origins = torch.tensor([0.0, 0.0, -3.0]).expand(n_rays, 3)
    offsets = torch.linspace(-0.12, 0.12, n_rays)
    directions = torch.nn.functional.normalize(torch.stack([offsets, 0.5 * offsets, torch.ones(n_rays)], -1), dim=-1)
    z = torch.linspace(1.5, 4.5, n_samples).expand(n_rays, n_samples)
    points = origins[:, None] + directions[:, None] * z[..., None]
    return z, points.norm(dim=-1) - radius, origins, directions


def test_weights_sum_at_most_one_and_peak_at_zero_crossing():
    z, sdf, origins, directions = _sphere_rays()
    for inv_s in (64.0, 512.0, 4096.0):
        weights = alpha_to_weights(neus_alpha(sdf[:, :-1], sdf[:, 1:], inv_s))
        assert (weights >= 0).all() and (weights.sum(-1) <= 1 + 1e-6).all()
        # Analytic first intersection of each ray with the sphere.
        b = (origins * directions).sum(-1)
        t_hit = -b - torch.sqrt(b * b - ((origins * origins).sum(-1) - 0.25))
        section_mid = 0.5 * (z[:, 1:] + z[:, :-1])
        peak = section_mid.gather(1, weights.argmax(-1, keepdim=True))[:, 0]
        spacing = (z[0, 1] - z[0, 0]).item()
        assert torch.allclose(peak, t_hit, atol=spacing + 1e-6)
    sharp = alpha_to_weights(neus_alpha(sdf[:, :-1], sdf[:, 1:], 2048.0))
    assert torch.allclose(sharp.sum(-1), torch.ones(sdf.shape[0]), atol=1e-3)


def test_alpha_matches_numerical_opacity_integral():
    # NeuS: opaque density rho = max(-(dPhi_s/dt) / Phi_s, 0); alpha = 1 - exp(-integral of rho over the section).
    inv_s, t0, t1 = 20.0, 0.0, 0.3
    def sdf(t):
        return 0.1 - 0.8 * t
    t = torch.linspace(t0, t1, 200001, dtype=torch.float64)
    phi = torch.sigmoid(inv_s * sdf(t))
    dphi = torch.gradient(phi, spacing=(t,))[0]
    rho = (-dphi / phi).clamp_min(0)
    integral = torch.trapezoid(rho, t)
    expected = 1 - math.exp(-integral.item())
    got = neus_alpha(torch.tensor(sdf(t0), dtype=torch.float64), torch.tensor(sdf(t1), dtype=torch.float64), inv_s)
    assert abs(got.item() - expected) < 1e-4


def test_sample_pdf_concentrates_where_the_weight_is():
    bins = torch.linspace(0, 1, 11).expand(4, 11)
    weights = torch.zeros(4, 10)
    weights[:, 6] = 1.0
    samples = sample_pdf(bins, weights, 32)
    assert samples.shape == (4, 32)
    inside = ((samples >= 0.6) & (samples <= 0.7)).float().mean()
    assert inside > 0.9
    assert (samples[:, 1:] >= samples[:, :-1]).all()


def test_render_rays_with_nerfpp_background_trains_the_scene_background():
    from multi_neus.config import load
    from multi_neus.losses import neus_loss
    from multi_neus.models.multi_neus import MultiNeuS
    from multi_neus.models.renderer import render_rays

    cfg = load("tiny", ["renderer.background=nerf++", "renderer.n_outside=8"])
    model = MultiNeuS(cfg, 2)
    origins = torch.tensor([0.0, 0.0, -3.0]).expand(16, 3)
    directions = torch.nn.functional.normalize(torch.randn(16, 3) * 0.3 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    out = render_rays(model, 1, origins, directions, cfg.renderer)
    assert out["color"].shape == (16, 3) and ((out["color"] >= 0) & (out["color"] <= 1)).all()
    assert ((out["weight_sum"] >= 0) & (out["weight_sum"] <= 1 + 1e-6)).all()
    neus_loss(out, torch.rand(16, 3), torch.ones(16, 1), cfg.loss)["loss"].backward()
    assert all(p.grad is not None for p in model.backgrounds[1].parameters())
    assert all(p.grad is None for p in model.backgrounds[0].parameters())
