"""Procedural CAD-like shapes with sharp creases known by construction, plus smooth negatives.

Every generator builds a watertight mesh from primitives (boxes, extruded polygons, cylinders, cones) combined with
exact booleans (manifold3d through trimesh); their creases are the sharp curves. Smooth shapes (spheres, ellipsoids,
tori, capsules) have no sharp curve at all and act as negatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from def_sharp.config import ShapesConfig
from def_sharp.geometry.features import FeatureCurves, polyline_lengths, sharp_feature_curves


@dataclass
class SharpShape:
    name: str
    mesh: trimesh.Trimesh
    curves: FeatureCurves


def _union(*meshes: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.boolean.union(list(meshes), engine="manifold")


def _difference(a: trimesh.Trimesh, *cutters: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.boolean.difference([a, *cutters], engine="manifold")


def _box(rng: np.random.Generator) -> trimesh.Trimesh:
    return trimesh.creation.box(rng.uniform(0.6, 1.6, size=3))


def _prism(rng: np.random.Generator) -> trimesh.Trimesh:
    n_sides = int(rng.integers(3, 9))
    if n_sides > 4 and rng.random() < 0.3:
        angles = np.sort(rng.uniform(0, 2 * np.pi, n_sides))
    else:
        angles = np.linspace(0, 2 * np.pi, n_sides, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(0.5, 0.9)
    height = rng.uniform(0.4, 1.4)
    bottom, top = np.c_[ring, np.zeros(n_sides)], np.c_[ring, np.full(n_sides, height)]
    return trimesh.convex.convex_hull(np.concatenate([bottom, top]))


def _cylinder(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    return trimesh.creation.cylinder(rng.uniform(0.3, 0.7), rng.uniform(0.5, 1.5), sections=sections)


def _cone(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    bottom, top = rng.uniform(0.4, 0.8), rng.uniform(0.0, 0.35)
    height = rng.uniform(0.6, 1.4)
    angles = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles)], 1)
    if top < 0.05:
        return trimesh.creation.cone(bottom, height, sections=sections)
    vertices = np.concatenate(
        [np.c_[ring * bottom, np.zeros(sections)], np.c_[ring * top, np.full(sections, height)]]
    )
    return trimesh.convex.convex_hull(vertices)


def _step(rng: np.random.Generator) -> trimesh.Trimesh:
    n_steps = int(rng.integers(2, 4))
    depth = rng.uniform(0.6, 1.2)
    parts, x = [], 0.0
    for level in range(n_steps):
        width, height = rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.5) * (n_steps - level)
        part = trimesh.creation.box((width + 0.2, depth, height))
        parts.append(part.apply_translation([x + width / 2, 0, height / 2]))
        x += width
    return _union(*parts)


def _box_with_hole(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    size = rng.uniform([0.9, 0.9, 0.3], [1.6, 1.6, 0.8])
    body = trimesh.creation.box(size)
    radius = rng.uniform(0.15, 0.3) * min(size[:2])
    hole = trimesh.creation.cylinder(radius, size[2] * 2, sections=sections)
    through = rng.random() < 0.5
    if not through:
        hole.apply_translation([0, 0, size[2] * 0.6])
    offset = rng.uniform(-0.2, 0.2, size=2) * size[:2]
    return _difference(body, hole.apply_translation([offset[0], offset[1], 0]))


def _chamfered_box(rng: np.random.Generator) -> trimesh.Trimesh:
    size = rng.uniform(0.7, 1.5, size=3)
    body = trimesh.creation.box(size)
    cutters = []
    for _ in range(int(rng.integers(1, 4))):
        # Shave the edge along `axis` at the corner (s_i, s_j) with the half-space n.x > n.c - depth, where
        # n = (s_i e_i + s_j e_j) / sqrt(2); the cutter is a large box rotated 45 degrees, one face on that plane.
        axis = int(rng.integers(0, 3))
        i, j = [k for k in range(3) if k != axis]
        signs = rng.choice([-1.0, 1.0], size=2)
        normal = np.zeros(3)
        normal[[i, j]] = signs / np.sqrt(2)
        edge_point = np.zeros(3)
        edge_point[[i, j]] = signs * size[[i, j]] / 2
        depth = rng.uniform(0.08, 0.2)
        half = 2.0
        angles = np.zeros(3)
        angles[axis] = np.pi / 4
        cutter = trimesh.creation.box((2 * half, 2 * half, 2 * half))
        cutter.apply_transform(trimesh.transformations.compose_matrix(angles=angles))
        cutter.apply_translation(normal * (normal @ edge_point - depth + half))
        cutters.append(cutter)
    return _difference(body, *cutters)


def _union_block_cylinder(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    base = trimesh.creation.box(rng.uniform([0.9, 0.9, 0.3], [1.6, 1.6, 0.7]))
    top_z = base.bounds[1, 2]
    boss = trimesh.creation.cylinder(rng.uniform(0.2, 0.45), rng.uniform(0.3, 0.8), sections=sections)
    boss.apply_translation([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), top_z + boss.extents[2] / 2 - 0.05])
    return _union(base, boss)


def _notched_block(rng: np.random.Generator) -> trimesh.Trimesh:
    size = rng.uniform([1.0, 0.7, 0.6], [1.8, 1.3, 1.2])
    body = trimesh.creation.box(size)
    notch_size = np.array([rng.uniform(0.2, 0.5) * size[0], size[1] * 2, rng.uniform(0.3, 0.6) * size[2]])
    notch = trimesh.creation.box(notch_size)
    notch.apply_translation([rng.uniform(-0.2, 0.2) * size[0], 0, size[2] / 2])
    return _difference(body, notch)


def _sphere(rng: np.random.Generator) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=rng.uniform(0.5, 0.9))


def _ellipsoid(rng: np.random.Generator) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    sphere.apply_scale(rng.uniform(0.4, 0.9, size=3))
    return sphere


def _torus(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    major = rng.uniform(0.5, 0.8)
    return trimesh.creation.torus(major, rng.uniform(0.15, 0.35) * major * 1.5, major_sections=sections,
                                  minor_sections=sections // 2)


def _capsule(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    return trimesh.creation.capsule(rng.uniform(0.4, 1.2), rng.uniform(0.25, 0.5), count=[sections, sections // 2])


def _l_bracket(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    width, length, height = rng.uniform(0.6, 1.2), rng.uniform(1.0, 1.8), rng.uniform(0.8, 1.6)
    thickness = rng.uniform(0.15, 0.3)
    base = trimesh.creation.box((length, width, thickness)).apply_translation([length / 2, 0, thickness / 2])
    upright = trimesh.creation.box((thickness, width, height)).apply_translation([thickness / 2, 0, height / 2])
    hole = trimesh.creation.cylinder(rng.uniform(0.08, 0.2) * width, 4 * thickness, sections=sections)
    hole.apply_translation([thickness + 0.55 * (length - thickness), 0, thickness / 2])
    return _difference(_union(base, upright), hole)


def _hex_nut(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    across = rng.uniform(0.6, 1.0)
    ring = np.stack([np.cos(angles), np.sin(angles)], 1) * across
    height = rng.uniform(0.3, 1.2)
    body = trimesh.convex.convex_hull(np.concatenate([np.c_[ring, np.zeros(6)], np.c_[ring, np.full(6, height)]]))
    bore = trimesh.creation.cylinder(rng.uniform(0.25, 0.5) * across, 3 * height, sections=sections)
    return _difference(body, bore.apply_translation([0, 0, height / 2]))


def _slotted_disc(rng: np.random.Generator, sections: int) -> trimesh.Trimesh:
    radius, height = rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.8)
    disc = trimesh.creation.cylinder(radius, height, sections=sections)
    slot = trimesh.creation.box((2.5 * radius, rng.uniform(0.15, 0.35) * radius, height))
    return _difference(disc, slot.apply_translation([0, 0, height * rng.uniform(0.4, 0.7)]))


def _superellipsoid(rng: np.random.Generator) -> trimesh.Trimesh:
    """|x|^4 + |y|^4 + |z|^4 = 1 scaled per axis: a rounded box whose surface is smooth everywhere."""
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    directions = sphere.vertices
    sphere.vertices = directions / (np.abs(directions) ** 4).sum(1, keepdims=True) ** 0.25
    sphere.apply_scale(rng.uniform(0.5, 1.0, size=3))
    return sphere


SHARP_KINDS: dict[str, Callable[..., trimesh.Trimesh]] = {
    "box": lambda rng, sections: _box(rng),
    "prism": lambda rng, sections: _prism(rng),
    "cylinder": _cylinder,
    "cone": _cone,
    "step": lambda rng, sections: _step(rng),
    "hole": _box_with_hole,
    "chamfer": lambda rng, sections: _chamfered_box(rng),
    "boss": _union_block_cylinder,
    "notch": lambda rng, sections: _notched_block(rng),
}
SMOOTH_KINDS: dict[str, Callable[..., trimesh.Trimesh]] = {
    "sphere": lambda rng, sections: _sphere(rng),
    "ellipsoid": lambda rng, sections: _ellipsoid(rng),
    "torus": _torus,
    "capsule": _capsule,
}


SMOOTH_EXTENT = (1.5, 3.0)  # largest extent of smooth negatives (they have no curve length to scale by)

# Families never used for training: whole-model evaluation holds out whole generators, not just instances.
HELD_OUT_KINDS: dict[str, Callable[..., trimesh.Trimesh]] = {
    "l_bracket": _l_bracket,
    "hex_nut": _hex_nut,
    "slotted_disc": _slotted_disc,
    "superellipsoid": lambda rng, sections: _superellipsoid(rng),
}
HELD_OUT_SMOOTH = ("superellipsoid",)


def normalise_scale(
    mesh: trimesh.Trimesh, curves: FeatureCurves, extent: float, curve_length_quantile: float, smooth_extent: float
) -> tuple[trimesh.Trimesh, FeatureCurves]:
    """DEF-Sim scale for a centred mesh: largest extent -> `extent`, then the quantile of curve lengths -> 1.

    Shapes without curves (smooth negatives) are scaled to the largest extent `smooth_extent` instead.
    """
    factor = extent / mesh.extents.max()
    lengths = polyline_lengths(curves.scaled(factor))
    factor *= 1.0 / np.quantile(lengths, curve_length_quantile) if len(lengths) else smooth_extent / extent
    mesh = mesh.copy()
    mesh.apply_scale(factor)
    return mesh, curves.scaled(factor)


def training_scale_factor(mesh: trimesh.Trimesh, curves: FeatureCurves, cfg: ShapesConfig) -> float:
    """The factor that brings a mesh to the training scale by the DEF-Sim normalisation (largest extent -> extent,
    then the curve-length quantile -> 1); a mesh without sharp curves gets the middle of the smooth extents."""
    factor = cfg.extent / mesh.extents.max()
    lengths = polyline_lengths(curves.scaled(factor))
    if len(lengths):
        return float(factor / np.quantile(lengths, cfg.curve_length_quantile))
    return float(np.mean(SMOOTH_EXTENT) / mesh.extents.max())


def shape_from_mesh(name: str, mesh: trimesh.Trimesh, cfg: ShapesConfig) -> SharpShape:
    """A closed mesh made by someone else (e.g. fandisk), centred and brought to the training scale, with its
    sharp curves (dihedral angle above cfg.sharp_angle_deg) as ground truth."""
    mesh = mesh.copy()
    mesh.merge_vertices()
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    curves = sharp_feature_curves(mesh, cfg.sharp_angle_deg)
    factor = training_scale_factor(mesh, curves, cfg)
    mesh.apply_scale(factor)
    return SharpShape(name=name, mesh=mesh, curves=curves.scaled(factor))


def make_shape(
    kind: str,
    seed: int,
    *,
    sections: int = 64,
    sharp_angle_deg: float = 20.0,
    extent: float = 10.0,
    curve_length_quantile: float = 0.25,
) -> SharpShape:
    """One randomly posed shape of a given kind, scaled as in DEF-Sim, with its exact sharp curves."""
    rng = np.random.default_rng(seed)
    generators = {**SHARP_KINDS, **SMOOTH_KINDS, **HELD_OUT_KINDS}
    mesh = generators[kind](rng, sections)
    mesh.apply_transform(
        np.block([[Rotation.random(random_state=rng).as_matrix(), np.zeros((3, 1))], [np.zeros((1, 3)), 1.0]])
    )
    mesh.merge_vertices()
    curves = sharp_feature_curves(mesh, sharp_angle_deg)
    # curves reference mesh.vertices; normalise both with the same transform (centre, then scale).
    center = mesh.bounds.mean(axis=0)
    mesh.apply_translation(-center)
    curves.vertices = curves.vertices - center
    mesh, curves = normalise_scale(mesh, curves, extent, curve_length_quantile,
                                   smooth_extent=rng.uniform(*SMOOTH_EXTENT))
    return SharpShape(name=f"{kind}_{seed}", mesh=mesh, curves=curves)


def shape_catalogue(n_shapes: int, seed: int, smooth_fraction: float) -> list[tuple[str, int]]:
    """Deterministic (kind, seed) list: sharp kinds cycled, a fraction of smooth negatives."""
    rng = np.random.default_rng(seed)
    sharp, smooth = sorted(SHARP_KINDS), sorted(SMOOTH_KINDS)
    n_smooth = int(round(n_shapes * smooth_fraction))
    kinds = [sharp[i % len(sharp)] for i in range(n_shapes - n_smooth)]
    kinds += [smooth[i % len(smooth)] for i in range(n_smooth)]
    seeds = rng.integers(0, 2**31 - 1, size=n_shapes)
    return [(kind, int(s)) for kind, s in zip(kinds, seeds, strict=False)]
