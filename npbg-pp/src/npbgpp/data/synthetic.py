"""Built-in scenes with exact geometry: textured primitives on a floor, rendered by an analytic torch ray caster.

Every scene has solid procedural textures (checker, stripes, sums of sinusoids), Lambertian plus Blinn-Phong
specular shading (view dependent), cameras on a hemisphere with a random roll about the optical axis (so that
the canonical up-axis alignment matters), and a noisy point cloud sampled from the visible surfaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from shared_utils.cameras import (
    focal_from_fov,
    intrinsics_matrix,
    invert_pose,
    look_at,
    pixel_rays,
    rotate_camera_inplane,
)
from shared_utils.errors import InputError
from shared_utils.io import atomic_write, load_json, save_json

from npbgpp.config import SyntheticConfig
from npbgpp.data.scene import SceneData, scene_from_numpy

FLOOR_HALF_SIZE = 1.5
SCENE_TARGET = (0.0, 0.0, 0.35)
LIGHT_DIRECTION = (0.4, -0.3, 0.85)
GENERATOR_VERSION = 2


@dataclass
class Material:
    texture: str
    color_a: np.ndarray
    color_b: np.ndarray
    frequency: float
    directions: np.ndarray
    specular: float
    shininess: float


@dataclass
class Primitive:
    """kind: 'floor' (square at z=0), 'sphere' (center, radius) or 'box' (center, half extents, yaw)."""

    kind: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    material: Material
    extra: dict = field(default_factory=dict)


def _random_material(rng: np.random.Generator) -> Material:
    texture = rng.choice(["checker", "stripes", "waves"])
    hue = rng.uniform(0.0, 1.0, size=3)
    color_a = np.clip(0.25 + 0.7 * hue, 0.0, 1.0)
    color_b = np.clip(color_a * rng.uniform(0.2, 0.6) + rng.uniform(0.0, 0.3, size=3), 0.0, 1.0)
    directions = rng.normal(size=(3, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return Material(
        texture=str(texture),
        color_a=color_a,
        color_b=color_b,
        frequency=float(rng.uniform(2.0, 5.0)),
        directions=directions,
        specular=float(rng.uniform(0.2, 0.7)),
        shininess=float(rng.uniform(10.0, 40.0)),
    )


def random_primitives(rng: np.random.Generator) -> list[Primitive]:
    """A floor plus 3-4 spheres and boxes standing on it without overlapping much."""
    primitives = [Primitive("floor", np.zeros(3), np.array([FLOOR_HALF_SIZE] * 2 + [0.0]), 0.0, _random_material(rng))]
    placed: list[tuple[np.ndarray, float]] = []
    count = int(rng.integers(3, 5))
    attempts = 0
    while len(placed) < count and attempts < 200:
        attempts += 1
        radius = float(rng.uniform(0.3, 0.55))
        xy = rng.uniform(-FLOOR_HALF_SIZE + radius, FLOOR_HALF_SIZE - radius, size=2)
        if any(np.linalg.norm(xy - other) < radius + other_radius + 0.05 for other, other_radius in placed):
            continue
        placed.append((xy, radius))
        material = _random_material(rng)
        if rng.uniform() < 0.5:
            center = np.array([xy[0], xy[1], radius])
            primitives.append(Primitive("sphere", center, np.array([radius] * 3), 0.0, material))
        else:
            half = np.array([radius * 0.75, radius * 0.75, rng.uniform(0.3, 0.8)])
            center = np.array([xy[0], xy[1], half[2]])
            primitives.append(Primitive("box", center, half, float(rng.uniform(0, math.pi)), material))
    return primitives


def _yaw_matrix(yaw: float) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _intersect(primitive: Primitive, origins: torch.Tensor, directions: torch.Tensor):
    """Ray parameter t (inf when missed) and unit normals of one primitive, in world coordinates."""
    inf = torch.full(origins.shape[:-1], math.inf, dtype=origins.dtype)
    center = torch.as_tensor(primitive.center, dtype=origins.dtype)
    if primitive.kind == "floor":
        t = -origins[..., 2] / directions[..., 2].where(directions[..., 2].abs() > 1e-9, torch.tensor(1e-9))
        hit = origins + t[..., None] * directions
        inside = (hit[..., 0].abs() <= FLOOR_HALF_SIZE) & (hit[..., 1].abs() <= FLOOR_HALF_SIZE) & (t > 1e-6)
        normal = torch.zeros_like(origins)
        normal[..., 2] = 1.0
        return torch.where(inside, t, inf), normal
    if primitive.kind == "sphere":
        radius = float(primitive.size[0])
        offset = origins - center
        b = (offset * directions).sum(-1)
        c = (offset * offset).sum(-1) - radius**2
        disc = b * b - c
        t = -b - torch.sqrt(disc.clamp_min(0.0))
        valid = (disc > 0) & (t > 1e-6)
        hit = origins + t[..., None] * directions
        normal = (hit - center) / radius
        return torch.where(valid, t, inf), normal
    rotation = _yaw_matrix(primitive.yaw).to(origins.dtype)
    local_origins = (origins - center) @ rotation
    local_directions = directions @ rotation
    half = torch.as_tensor(primitive.size, dtype=origins.dtype)
    safe = local_directions.where(local_directions.abs() > 1e-12, torch.full_like(local_directions, 1e-12))
    t1 = (-half - local_origins) / safe
    t2 = (half - local_origins) / safe
    t_near = torch.minimum(t1, t2).amax(-1)
    t_far = torch.maximum(t1, t2).amin(-1)
    valid = (t_near <= t_far) & (t_near > 1e-6)
    hit_local = local_origins + t_near[..., None] * local_directions
    axis = (hit_local.abs() / half).argmax(-1)
    normal_local = torch.nn.functional.one_hot(axis, 3).to(origins.dtype) * torch.sign(hit_local)
    return torch.where(valid, t_near, inf), normal_local @ rotation.T


def _texture(material: Material, local_points: torch.Tensor) -> torch.Tensor:
    directions = torch.as_tensor(material.directions, dtype=local_points.dtype)
    f = material.frequency
    if material.texture == "checker":
        cells = torch.floor(local_points * f * 1.5).sum(-1)
        weight = torch.remainder(cells, 2.0)
    elif material.texture == "stripes":
        weight = 0.5 + 0.5 * torch.sin(2.5 * f * (local_points @ directions[0]))
    else:
        waves = torch.sin(2.0 * f * (local_points @ directions.T) + torch.arange(3, dtype=local_points.dtype))
        weight = 0.5 + waves.mean(-1) * 0.8
    color_a = torch.as_tensor(material.color_a, dtype=local_points.dtype)
    color_b = torch.as_tensor(material.color_b, dtype=local_points.dtype)
    return color_a * weight[..., None] + color_b * (1.0 - weight[..., None])


def ray_cast(primitives: list[Primitive], origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Shaded RGB in [0, 1] for rays (..., 3); black background."""
    origins, directions = origins.double(), directions.double()
    best_t = torch.full(origins.shape[:-1], math.inf, dtype=torch.float64)
    best_index = torch.full(origins.shape[:-1], -1, dtype=torch.long)
    best_normal = torch.zeros_like(origins)
    for index, primitive in enumerate(primitives):
        t, normal = _intersect(primitive, origins, directions)
        closer = t < best_t
        best_t = torch.where(closer, t, best_t)
        best_index = torch.where(closer, torch.full_like(best_index, index), best_index)
        best_normal = torch.where(closer[..., None], normal, best_normal)
    hit = origins + best_t.where(torch.isfinite(best_t), torch.zeros_like(best_t))[..., None] * directions
    light = torch.tensor(LIGHT_DIRECTION, dtype=torch.float64)
    light = light / light.norm()
    color = torch.zeros_like(origins)
    for index, primitive in enumerate(primitives):
        mask = best_index == index
        if not bool(mask.any()):
            continue
        local = (hit[mask] - torch.as_tensor(primitive.center)) @ _yaw_matrix(primitive.yaw)
        albedo = _texture(primitive.material, local)
        normal = best_normal[mask]
        diffuse = (normal @ light).clamp_min(0.0)
        half_vector = torch.nn.functional.normalize(light - directions[mask], dim=-1)
        highlight = (normal * half_vector).sum(-1).clamp_min(0.0) ** primitive.material.shininess
        specular = primitive.material.specular * highlight
        color[mask] = albedo * (0.3 + 0.7 * diffuse[..., None]) + specular[..., None]
    return color.clamp(0.0, 1.0).float()


def _face_samples(primitive: Primitive, count: int, rng: np.random.Generator) -> np.ndarray:
    if primitive.kind == "floor":
        xy = rng.uniform(-FLOOR_HALF_SIZE, FLOOR_HALF_SIZE, size=(count, 2))
        return np.concatenate([xy, np.zeros((count, 1))], axis=1)
    if primitive.kind == "sphere":
        directions = rng.normal(size=(count, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return primitive.center + primitive.size[0] * directions
    half = primitive.size
    # Five faces (the bottom one touches the floor), chosen proportionally to their area.
    faces = [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1)]
    areas = np.array([4 * half[(a + 1) % 3] * half[(a + 2) % 3] for a, _ in faces])
    choice = rng.choice(len(faces), size=count, p=areas / areas.sum())
    local = rng.uniform(-1.0, 1.0, size=(count, 3)) * half
    for face_index, (axis, sign) in enumerate(faces):
        local[choice == face_index, axis] = sign * half[axis]
    return local @ _yaw_matrix(primitive.yaw).numpy().T + primitive.center


def _surface_area(primitive: Primitive) -> float:
    if primitive.kind == "floor":
        return (2 * FLOOR_HALF_SIZE) ** 2
    if primitive.kind == "sphere":
        return 4 * math.pi * primitive.size[0] ** 2
    hx, hy, hz = primitive.size
    return 4 * hx * hy + 8 * hz * (hx + hy)


def sample_point_cloud(primitives: list[Primitive], count: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Points sampled uniformly over all surfaces by area, with Gaussian noise of std ``noise``."""
    areas = np.array([_surface_area(p) for p in primitives])
    counts = rng.multinomial(count, areas / areas.sum())
    points = np.concatenate([_face_samples(p, int(n), rng) for p, n in zip(primitives, counts, strict=True)], axis=0)
    return (points + rng.normal(scale=noise, size=points.shape)).astype(np.float32)


def random_cameras(count: int, image_size: int, fov_deg: float, max_roll_deg: float, rng: np.random.Generator):
    """Intrinsics (V, 3, 3) and w2c (V, 4, 4) on a hemisphere around the scene, rolled about their axes."""
    azimuth = rng.uniform(0.0, 2 * math.pi, size=count)
    elevation = np.radians(rng.uniform(20.0, 65.0, size=count))
    radius = rng.uniform(3.6, 4.4, size=count)
    target = torch.tensor(SCENE_TARGET, dtype=torch.float64)
    eye = torch.from_numpy(
        np.stack(
            [radius * np.cos(elevation) * np.cos(azimuth), radius * np.cos(elevation) * np.sin(azimuth),
             radius * np.sin(elevation)],
            axis=-1,
        )
    ) + target
    c2w = look_at(eye, target.expand_as(eye), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand_as(eye))
    roll = torch.from_numpy(np.radians(rng.uniform(-max_roll_deg, max_roll_deg, size=count)))
    w2c = rotate_camera_inplane(invert_pose(c2w), roll)
    focal = float(focal_from_fov(math.radians(fov_deg), image_size))
    intrinsics = intrinsics_matrix(focal, focal, image_size / 2.0, image_size / 2.0)
    return intrinsics.double().expand(count, 3, 3).clone(), w2c.double()


def render_image(primitives: list[Primitive], intrinsics: torch.Tensor, w2c: torch.Tensor, height: int, width: int):
    """(H, W, 3) float image of one camera."""
    origins, directions = pixel_rays(intrinsics.double(), invert_pose(w2c.double()), height, width)
    return ray_cast(primitives, origins, directions)


def generate_scene(name: str, seed: int, cfg: SyntheticConfig) -> SceneData:
    rng = np.random.default_rng(seed)
    primitives = random_primitives(rng)
    intrinsics, w2c = random_cameras(cfg.views_per_scene, cfg.image_size, cfg.fov_deg, cfg.max_roll_deg, rng)
    images = torch.stack([render_image(primitives, k, t, cfg.image_size, cfg.image_size)
                          for k, t in zip(intrinsics, w2c, strict=True)])
    points = sample_point_cloud(primitives, cfg.points_per_scene, cfg.point_noise, rng)
    holdout = np.zeros(cfg.views_per_scene, dtype=bool)
    holdout[rng.choice(cfg.views_per_scene, size=cfg.holdout_frames, replace=False)] = True
    return scene_from_numpy(name, images.numpy(), intrinsics.numpy(), w2c.numpy(), points, holdout)


def save_scene(scene: SceneData, path: Path) -> None:
    with atomic_write(path) as handle:
        np.savez_compressed(
            handle,
            images=(scene.images.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8),
            intrinsics=scene.intrinsics.numpy(),
            w2c=scene.w2c.numpy(),
            points=scene.points.numpy(),
            holdout=scene.holdout.numpy(),
        )


def load_scene_file(path: Path, name: str | None = None) -> SceneData:
    if not Path(path).is_file():
        raise InputError(f"scene file '{path}' does not exist")
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in ("images", "intrinsics", "w2c", "points", "holdout")}
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"scene file '{path}' is unreadable or incomplete ({error})") from None
    return scene_from_numpy(name or Path(path).stem, **arrays)


def synthetic_scene_names(cfg: SyntheticConfig) -> tuple[list[str], list[str]]:
    train = [f"train_{i:02d}" for i in range(cfg.num_train_scenes)]
    holdout = [f"holdout_{i:02d}" for i in range(cfg.num_holdout_scenes)]
    return train, holdout


def ensure_synthetic_dataset(root: Path, cfg: SyntheticConfig) -> Path:
    """Generate (or reuse, when the cached settings match) every built-in scene under ``root``."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    settings = {"generator_version": GENERATOR_VERSION, **{k: getattr(cfg, k) for k in cfg.__dataclass_fields__}}
    train, holdout = synthetic_scene_names(cfg)
    names = train + holdout
    if manifest_path.is_file() and load_json(manifest_path).get("settings") == settings:
        if all((root / f"{name}.npz").is_file() for name in names):
            return root
    for index, name in enumerate(names):
        path = root / f"{name}.npz"
        # Hold-out scenes use seeds far from training seeds so that they are genuinely new layouts.
        seed = cfg.seed * 1000 + (index if name.startswith("train") else 500 + index)
        save_scene(generate_scene(name, seed, cfg), path)
    save_json({"settings": settings, "train_scenes": train, "holdout_scenes": holdout}, manifest_path)
    return root
