import numpy as np
import trimesh
from def_sharp.baseline import CovarianceBaseline, surface_variation
from def_sharp.config import BaselineConfig
from def_sharp.data.scanning import camera_looking_along, scan
from def_sharp.geometry.distances import truncated_feature_distance
from def_sharp.geometry.features import sharp_feature_curves


def test_variation_is_zero_on_a_plane_and_high_on_a_crease():
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41)), -1).reshape(-1, 2) * 0.5
    plane = np.c_[grid, np.zeros(len(grid))]
    crease = np.c_[grid, np.abs(grid[:, 0])]  # 90-degree roof
    assert np.allclose(surface_variation(plane, [0.1], 32), 0.0, atol=1e-12)
    variation = surface_variation(crease, [0.1], 32)
    near = np.abs(crease[:, 0]) < 0.02
    far = np.abs(crease[:, 0]) > 0.15
    assert variation[near].mean() > 0.05 and variation[far].max() < 1e-9


def test_fitted_baseline_predicts_small_distances_at_box_edges():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    curves = sharp_feature_curves(box, 20.0)
    camera = camera_looking_along(np.array([-1.0, -0.7, -0.5]), np.zeros(3), 2.0, 0.02, 64)
    patch = scan(box, camera)
    distance = np.ones(patch.mask.shape)
    distance[patch.mask] = truncated_feature_distance(patch.points[patch.mask], patch.face_index[patch.mask],
                                                      curves, 1.0)
    baseline = CovarianceBaseline(BaselineConfig(radii=[0.06]), 0.02).fit(patch.depth[None], patch.mask[None],
                                                                           distance[None])
    prediction = baseline.predict(patch.depth, patch.mask)
    sharp = patch.mask & (distance < 0.02)
    flat = patch.mask & (distance > 0.2)
    assert prediction[sharp].mean() < prediction[flat].mean()


def test_normal_discontinuity_is_one_minus_cos_of_the_crease_angle_and_zero_on_planes():
    from def_sharp.baseline import normal_discontinuity

    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 81)), -1).reshape(-1, 2) * 0.5
    roof = np.c_[grid, np.abs(grid[:, 0])]  # 90-degree crease along x = 0
    score = normal_discontinuity(roof, 8, 0.04, 48)
    x = np.abs(roof[:, 0])
    # Points one grid step (0.0125) or more from the crease have clean normals; within 0.04 of the crease they see
    # a neighbour with a clean normal on the other face: 1 - |cos 90| = 1. Beyond 0.04 + a step, nothing.
    inner = np.abs(roof[:, 1]) < 0.4  # away from the sample's own border
    assert np.allclose(score[inner & (x > 0.01) & (x < 0.03)], 1.0, atol=1e-6)
    assert np.allclose(score[x > 0.05], 0.0, atol=1e-9)


def test_fitted_normal_discontinuity_baseline_finds_box_edges():
    from def_sharp.baseline import NormalDiscontinuityBaseline

    box = trimesh.creation.box((1.0, 1.0, 1.0))
    curves = sharp_feature_curves(box, 20.0)
    camera = camera_looking_along(np.array([-1.0, -0.7, -0.5]), np.zeros(3), 2.0, 0.02, 64)
    patch = scan(box, camera)
    distance = np.ones(patch.mask.shape)
    distance[patch.mask] = truncated_feature_distance(patch.points[patch.mask], patch.face_index[patch.mask],
                                                      curves, 1.0)
    baseline = NormalDiscontinuityBaseline(BaselineConfig(normal_neighbours=8, normal_radius=0.02), 0.02)
    prediction = baseline.fit(patch.depth[None], patch.mask[None], distance[None]).predict(patch.depth, patch.mask)
    sharp = patch.mask & (distance < 0.02)
    flat = patch.mask & (distance > 0.2)
    assert prediction[sharp].mean() < prediction[flat].mean()
    assert np.allclose(baseline.predict_points(patch.points[flat][:50]), baseline.distance_grid[0])
