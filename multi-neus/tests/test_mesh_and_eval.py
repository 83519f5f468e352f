import numpy as np
import pytest
import torch
import trimesh
from multi_neus.config import EvalConfig, load
from multi_neus.data.head_family import HeadParameters, HeadShape
from multi_neus.evaluate import h3ds_chamfer
from multi_neus.mesh import extract_mesh, marching_cubes, sdf_grid, vertex_colors
from multi_neus.models.multi_neus import MultiNeuS
from scipy.spatial.transform import Rotation
from shared_utils.errors import InputError


def _sphere_grid(resolution, bound, radius):
    axis = np.linspace(-bound, bound, resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.sqrt(x**2 + y**2 + z**2) - radius


def test_marching_cubes_of_an_analytic_sphere_has_the_right_radius():
    vertices, faces = marching_cubes(_sphere_grid(64, 1.01, 0.5), 1.01)
    radii = np.linalg.norm(vertices, axis=-1)
    assert abs(radii.mean() - 0.5) < 2e-3 and radii.std() < 5e-3
    mesh = trimesh.Trimesh(vertices, faces)
    assert mesh.is_watertight and mesh.volume > 0  # outward-facing triangles
    assert abs(mesh.volume - 4 / 3 * np.pi * 0.125) / (4 / 3 * np.pi * 0.125) < 0.02


def test_marching_cubes_offset_sphere_lands_in_place():
    axis = np.linspace(-1.0, 1.0, 48)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = np.sqrt((x - 0.3) ** 2 + y**2 + (z + 0.2) ** 2) - 0.4
    vertices, _ = marching_cubes(values, 1.0)
    assert np.allclose(vertices.mean(0), [0.3, 0.0, -0.2], atol=5e-3)


def _head_mesh():
    from multi_neus.config import SyntheticDataConfig
    from multi_neus.data.generate import ground_truth_mesh

    shape = HeadShape(HeadParameters.sample(np.random.default_rng(5)))
    vertices, faces = ground_truth_mesh(shape, SyntheticDataConfig(gt_mesh_resolution=96))
    return trimesh.Trimesh(vertices, faces, process=False), shape.face_region(vertices)


def test_chamfer_after_icp_of_a_rigidly_moved_copy_is_about_zero():
    gt, face = _head_mesh()
    moved = gt.copy()
    transform = np.eye(4)
    transform[:3, :3] = Rotation.from_euler("xyz", [2.0, -3.0, 1.5], degrees=True).as_matrix()
    transform[:3, 3] = [0.004, -0.003, 0.002]
    moved.apply_transform(transform)
    cfg = EvalConfig(surface_samples=300000)
    result = h3ds_chamfer(moved, gt, face, cfg)
    # Residual = distance from vertices to random surface samples (sub-millimetre), not misalignment.
    assert result["chamfer_face_mm"] < 0.5 and result["chamfer_head_mm"] < 0.5
    assert result["icp_fitness"] > 0.99
    unaligned = result["chamfer_face_mm"]
    shrunk = gt.copy()
    shrunk.apply_scale(0.9)
    assert h3ds_chamfer(shrunk, gt, face, cfg)["chamfer_head_mm"] > 5 * unaligned


def test_chamfer_of_empty_prediction_is_an_input_error():
    gt, face = _head_mesh()
    with pytest.raises(InputError):
        h3ds_chamfer(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)), gt, face, EvalConfig())


def test_extracted_mesh_is_in_world_units_with_network_colours():
    torch.manual_seed(0)
    model = MultiNeuS(load("tiny"), 1)
    scale_mat = np.diag([0.16, 0.16, 0.16, 1.0])
    scale_mat[:3, 3] = [0.01, -0.02, 0.03]
    mesh = extract_mesh(model, 0, scale_mat, 32)
    normalized, _ = marching_cubes(sdf_grid(model, 0, 32, 1.01), 1.01)
    assert np.allclose(mesh.vertices, normalized * 0.16 + scale_mat[:3, 3], atol=1e-6)
    expected = np.round(vertex_colors(model, 0, normalized) * 255)
    assert np.abs(mesh.visual.vertex_colors[:, :3].astype(float) - expected).max() <= 1.0
    assert mesh.visual.vertex_colors[:, :3].std() > 0
