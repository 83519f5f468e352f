"""se(3) exponential and logarithm maps (tangent = (rho, omega): translation part first, rotation last)."""

from __future__ import annotations

import torch


def _skew(w: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(w[..., 0])
    return torch.stack(
        [
            torch.stack([zero, -w[..., 2], w[..., 1]], -1),
            torch.stack([w[..., 2], zero, -w[..., 0]], -1),
            torch.stack([-w[..., 1], w[..., 0], zero], -1),
        ],
        -2,
    )


def _taylor_safe(theta: torch.Tensor, small: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    return torch.where(theta < 1e-3, small, exact)


def se3_exp(xi: torch.Tensor) -> torch.Tensor:
    """(..., 6) twist -> (..., 4, 4) rigid transform, closed form (Rodrigues + left Jacobian)."""
    rho, omega = xi[..., :3], xi[..., 3:]
    theta_sq = (omega * omega).sum(-1)
    theta = theta_sq.clamp_min(1e-12).sqrt()
    # Series expansions near theta = 0 keep the map and its gradient finite there.
    a = _taylor_safe(theta, 1 - theta_sq / 6, torch.sin(theta) / theta)
    b = _taylor_safe(theta, 0.5 - theta_sq / 24, (1 - torch.cos(theta)) / theta_sq.clamp_min(1e-12))
    c = _taylor_safe(theta, 1 / 6 - theta_sq / 120, (theta - torch.sin(theta)) / (theta_sq * theta).clamp_min(1e-12))
    wx = _skew(omega)
    wx2 = wx @ wx
    eye = torch.eye(3, dtype=xi.dtype, device=xi.device).expand_as(wx)
    rotation = eye + a[..., None, None] * wx + b[..., None, None] * wx2
    left_jacobian = eye + b[..., None, None] * wx + c[..., None, None] * wx2
    translation = (left_jacobian @ rho[..., None])[..., 0]
    out = torch.zeros(*xi.shape[:-1], 4, 4, dtype=xi.dtype, device=xi.device)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def so3_log(rotation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation -> (..., 3) axis-angle vector (valid for angles in [0, pi))."""
    trace = rotation[..., 0, 0] + rotation[..., 1, 1] + rotation[..., 2, 2]
    cos_theta = ((trace - 1) / 2).clamp(-1 + 1e-7, 1 - 1e-7)
    theta = torch.acos(cos_theta)
    vee = torch.stack(
        [
            rotation[..., 2, 1] - rotation[..., 1, 2],
            rotation[..., 0, 2] - rotation[..., 2, 0],
            rotation[..., 1, 0] - rotation[..., 0, 1],
        ],
        -1,
    )
    factor = _taylor_safe(theta, 0.5 + theta**2 / 12, theta / (2 * torch.sin(theta)))
    return factor[..., None] * vee


def se3_log(transform: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) rigid transform -> (..., 6) twist (inverse of se3_exp for rotation angles below pi)."""
    omega = so3_log(transform[..., :3, :3])
    theta_sq = (omega * omega).sum(-1)
    theta = theta_sq.clamp_min(1e-12).sqrt()
    wx = _skew(omega)
    # Inverse left Jacobian: I - wx/2 + (1/theta^2)(1 - theta sin / (2 (1 - cos))) wx^2.
    coeff = _taylor_safe(
        theta,
        1 / 12 + theta_sq / 720,
        (1 - theta * torch.sin(theta) / (2 * (1 - torch.cos(theta)))) / theta_sq.clamp_min(1e-12),
    )
    eye = torch.eye(3, dtype=transform.dtype, device=transform.device).expand_as(wx)
    inv_left_jacobian = eye - 0.5 * wx + coeff[..., None, None] * (wx @ wx)
    rho = (inv_left_jacobian @ transform[..., :3, 3:4])[..., 0]
    return torch.cat([rho, omega], -1)
