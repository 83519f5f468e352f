"""Mesh extraction: marching cubes (PyMCubes) on the SDF, vertex colours from the colour network, world units."""

from __future__ import annotations

import mcubes
import numpy as np
import torch
import trimesh
from shared_utils.errors import InputError

from .models.multi_neus import MultiNeuS


@torch.no_grad()
def sdf_grid(model: MultiNeuS, scene: int, resolution: int, bound: float, chunk: int = 65536) -> np.ndarray:
    """SDF values on a resolution^3 grid over [-bound, bound]^3 of the normalised space (index order x, y, z)."""
    axis = torch.linspace(-bound, bound, resolution)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    device = next(model.parameters()).device
    values = [model.sdf_net.sdf(part.to(device), scene)[:, 0].cpu() for part in grid.split(chunk)]
    return torch.cat(values).reshape(resolution, resolution, resolution).numpy()


def marching_cubes(values: np.ndarray, bound: float, level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of a grid over [-bound, bound]^3 -> (vertices in that space, faces)."""
    if not (values.min() < level < values.max()):
        raise InputError(f"the SDF grid has no zero crossing (range {values.min():.3g} .. {values.max():.3g})")
    vertices, faces = mcubes.marching_cubes(values, level)
    resolution = values.shape[0]
    vertices = vertices * (2 * bound / (resolution - 1)) - bound
    # PyMCubes orients triangles inward for SDFs negative inside; flip so normals point outwards.
    return vertices, faces[:, ::-1].astype(np.int64)


def vertex_colors(model: MultiNeuS, scene: int, vertices: np.ndarray, chunk: int = 32768) -> np.ndarray:
    device = next(model.parameters()).device
    colors = []
    for part in torch.from_numpy(vertices).float().split(chunk):
        part = part.to(device)
        _, feature, gradient = model.sdf_net.with_gradient(part, scene, create_graph=False)
        with torch.no_grad():
            rgb = model.color_net(part, gradient, feature, -torch.nn.functional.normalize(gradient, dim=-1), scene)
        colors.append(rgb.detach().cpu())
    return torch.cat(colors).numpy()


def extract_mesh(model: MultiNeuS, scene: int, scale_mat: np.ndarray, resolution: int, bound: float = 1.01,
                 with_colors: bool = True) -> trimesh.Trimesh:
    """The scene's surface as a mesh in world units (x_world = scale_mat x_norm) with vertex colours."""
    values = sdf_grid(model, scene, resolution, bound)
    vertices, faces = marching_cubes(values, bound)
    colors = vertex_colors(model, scene, vertices) if with_colors else None
    world = vertices @ scale_mat[:3, :3].T + scale_mat[:3, 3]
    mesh = trimesh.Trimesh(world, faces, process=False)
    if colors is not None:
        rgba = np.concatenate([colors, np.ones((len(colors), 1))], 1)
        # uint8 explicitly: trimesh reads float colours as already in [0, 1] scale-less values and saturates them.
        mesh.visual.vertex_colors = np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8)
    return mesh
