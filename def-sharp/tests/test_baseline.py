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
