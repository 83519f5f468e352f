"""A parametric family of head-like closed SDF shapes with procedural albedo and 3-D landmarks.

World units are metres; the head is centred at the origin, z points up and the face looks along -y (so the
subject's right is -x). Each identity is an ellipsoid skull smoothly united with a jaw, chin, nose, brow ridge and
two ears; its albedo paints skin, hair, eyes, eyebrows and lips; a fixed world light gives view-independent shading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

LANDMARK_NAMES = (
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_inner",
    "left_eye_outer",
    "nose_tip",
    "mouth_right",
    "mouth_left",
    "chin",
)
LIGHT_DIRECTION = (0.3, -0.8, 0.6)
AMBIENT = 0.45


@dataclass
class HeadParameters:
    skull_radii: tuple[float, float, float]
    jaw_width: float
    chin_size: float
    chin_drop: float
    nose_width: float
    nose_length: float
    nose_height: float
    brow_depth: float
    ear_thickness: float
    ear_height: float
    eye_separation: float
    eye_height: float
    mouth_height: float
    mouth_half_width: float
    hairline_front: float
    hairline_back: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> HeadParameters:
        u = rng.uniform
        skin_r = u(0.62, 0.92)
        skin = (skin_r, skin_r * u(0.68, 0.8), skin_r * u(0.52, 0.66))
        hair_level = u(0.15, 0.6)
        hair = (hair_level, hair_level * u(0.6, 0.85), hair_level * u(0.35, 0.6))
        return cls(
            skull_radii=(u(0.070, 0.082), u(0.088, 0.102), u(0.100, 0.116)),
            jaw_width=u(0.044, 0.058),
            chin_size=u(0.020, 0.028),
            chin_drop=u(0.078, 0.092),
            nose_width=u(0.010, 0.016),
            nose_length=u(0.020, 0.032),
            nose_height=u(0.022, 0.030),
            brow_depth=u(0.010, 0.018),
            ear_thickness=u(0.008, 0.013),
            ear_height=u(0.026, 0.034),
            eye_separation=u(0.028, 0.034),
            eye_height=u(0.010, 0.020),
            mouth_height=u(-0.052, -0.040),
            mouth_half_width=u(0.018, 0.025),
            hairline_front=u(0.045, 0.065),
            hairline_back=u(-0.07, -0.03),
            skin=skin,
            hair=hair,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _ellipsoid(p: torch.Tensor, center, radii) -> torch.Tensor:
    """Quilez's ellipsoid distance bound k0 (k0 - 1) / k1 (exact on the surface, close nearby)."""
    q = p - p.new_tensor(center)
    r = p.new_tensor(radii)
    k0 = (q / r).norm(dim=-1)
    k1 = (q / (r * r)).norm(dim=-1).clamp_min(1e-9)
    return k0 * (k0 - 1.0) / k1


def _smooth_union(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    h = (k - (a - b).abs()).clamp_min(0.0) / k
    return torch.minimum(a, b) - h * h * k * 0.25


class HeadShape:
    """Analytic SDF, normals, albedo, shading and landmarks of one identity (torch, any device)."""

    def __init__(self, params: HeadParameters):
        self.params = params

    def sdf(self, p: torch.Tensor) -> torch.Tensor:
        hp = self.params
        rx, ry, rz = hp.skull_radii
        d = _ellipsoid(p, (0.0, 0.005, 0.01), (rx, ry, rz))
        d = _smooth_union(d, _ellipsoid(p, (0.0, -0.03, -0.055), (hp.jaw_width, 0.058, 0.045)), 0.02)
        chin = _ellipsoid(p, (0.0, -ry * 0.62, -hp.chin_drop), (hp.chin_size * 1.2, hp.chin_size, hp.chin_size))
        d = _smooth_union(d, chin, 0.015)
        brow = _ellipsoid(p, (0.0, -(ry - 0.012), 0.032), (0.05, hp.brow_depth, 0.012))
        d = _smooth_union(d, brow, 0.012)
        nose_center = (0.0, -(ry - 0.016) - 0.5 * hp.nose_length, -0.012)
        d = _smooth_union(d, _ellipsoid(p, nose_center, (hp.nose_width, hp.nose_length, hp.nose_height)), 0.01)
        for side in (-1.0, 1.0):
            ear = _ellipsoid(p, (side * (rx - 0.003), 0.012, 0.0), (hp.ear_thickness, 0.017, hp.ear_height))
            d = _smooth_union(d, ear, 0.006)
        return d

    def normals(self, p: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            q = p.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.sdf(q).sum(), q)
        return F.normalize(grad, dim=-1)

    def landmarks(self) -> np.ndarray:
        """(8, 3) surface points named by LANDMARK_NAMES (world metres)."""
        hp = self.params
        inner, outer = hp.eye_separation - 0.011, hp.eye_separation + 0.011
        starts = [
            (-outer, 0.0, hp.eye_height),
            (-inner, 0.0, hp.eye_height),
            (inner, 0.0, hp.eye_height),
            (outer, 0.0, hp.eye_height),
            (0.0, 0.0, -0.012),
            (-hp.mouth_half_width, 0.0, hp.mouth_height),
            (hp.mouth_half_width, 0.0, hp.mouth_height),
            (0.0, 0.0, -0.04),
        ]
        directions = [(0.0, -1.0, 0.0)] * 7 + [(0.0, -0.55, -0.835)]
        return self.first_exit(torch.tensor(starts, dtype=torch.float64), torch.tensor(directions, dtype=torch.float64))

    def first_exit(self, starts: torch.Tensor, directions: torch.Tensor, max_t: float = 0.3) -> np.ndarray:
        """Surface points where rays starting inside the head first leave it (dense march + bisection)."""
        directions = F.normalize(directions, dim=-1)
        t = torch.linspace(0.0, max_t, 1201, dtype=starts.dtype)
        values = self.sdf(starts[:, None] + directions[:, None] * t[:, None])
        index = (values > 0).float().argmax(-1)
        lo, hi = t[(index - 1).clamp_min(0)], t[index]
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            outside = self.sdf(starts + directions * mid[:, None]) > 0
            hi = torch.where(outside, mid, hi)
            lo = torch.where(outside, lo, mid)
        return (starts + directions * hi[:, None]).numpy()

    def albedo(self, p: torch.Tensor) -> torch.Tensor:
        hp = self.params
        x, y, z = p.unbind(-1)
        skin = p.new_tensor(hp.skin).expand(*p.shape[:-1], 3)
        hair = p.new_tensor(hp.hair)
        color = skin.clone()
        front = (y < -0.03).float()
        # Hairline rises from the back of the head to the forehead.
        blend = ((-y / hp.skull_radii[1]) * 0.5 + 0.5).clamp(0.0, 1.0)
        hairline = hp.hairline_back + (hp.hairline_front - hp.hairline_back) * blend
        hair_mask = torch.sigmoid((z - hairline) / 0.003)[..., None]
        eye_dist = torch.minimum(
            ((x - hp.eye_separation) ** 2 + ((z - hp.eye_height) * 1.6) ** 2).sqrt(),
            ((x + hp.eye_separation) ** 2 + ((z - hp.eye_height) * 1.6) ** 2).sqrt(),
        )
        eyes = (torch.sigmoid((0.010 - eye_dist) / 0.001) * front)[..., None]
        pupils = (torch.sigmoid((0.004 - eye_dist) / 0.0008) * front)[..., None]
        brow_band = (z - hp.eye_height - 0.016).abs() < 0.0035
        brow_x = ((x.abs() - hp.eye_separation).abs() < 0.015)
        brows = (brow_band & brow_x).float()[..., None] * front[..., None]
        lips = (((x.abs() < hp.mouth_half_width) & ((z - hp.mouth_height).abs() < 0.005)).float() * front)[..., None]
        lip_color = skin * p.new_tensor((1.0, 0.55, 0.55))
        color = color * (1 - lips) + lip_color * lips
        color = color * (1 - eyes) + p.new_tensor((0.92, 0.9, 0.88)) * eyes
        color = color * (1 - pupils) + p.new_tensor((0.08, 0.06, 0.05)) * pupils
        color = color * (1 - brows) + hair * brows
        return color * (1 - hair_mask) + hair * hair_mask

    def shade(self, p: torch.Tensor) -> torch.Tensor:
        """Lambertian shading under a fixed world light: the same colour from every view (as NeuS models it)."""
        light = F.normalize(p.new_tensor(LIGHT_DIRECTION), dim=0)
        lambert = (self.normals(p) @ light).clamp_min(0.0)
        return self.albedo(p) * (AMBIENT + (1 - AMBIENT) * lambert)[..., None]

    def face_region(self, vertices: np.ndarray) -> np.ndarray:
        """Boolean face-region label of points: the front of the head between the ears, from chin to brow."""
        lm = self.landmarks()
        chin_z, eye_z = lm[7, 2], self.params.eye_height
        v = vertices
        return (v[:, 1] < -0.02) & (np.abs(v[:, 0]) < 0.06) & (v[:, 2] > chin_z - 0.005) & (v[:, 2] < eye_z + 0.04)


def sphere_trace(shape: HeadShape, origins: torch.Tensor, directions: torch.Tensor, radius: float,
                 iterations: int = 96, step_scale: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """March rays against the analytic SDF inside the bounding sphere; returns (hit mask, hit points)."""
    b = (origins * directions).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    enters = disc > 0
    t = (-b - disc.clamp_min(0).sqrt()).clamp_min(0.0)
    t_far = -b + disc.clamp_min(0).sqrt()
    hit = torch.zeros_like(enters)
    active = torch.nonzero(enters)[:, 0]
    for _ in range(iterations):
        if active.numel() == 0:
            break
        # Only rays still marching are evaluated (most leave the sphere or hit within a few steps).
        d = shape.sdf(origins[active] + directions[active] * t[active, None])
        reached = d < 1e-5
        hit[active[reached]] = True
        t[active] = torch.where(reached, t[active], t[active] + step_scale * d)
        active = active[~reached & (t[active] < t_far[active])]
    return hit, origins + directions * t[:, None]
