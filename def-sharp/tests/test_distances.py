import numpy as np
import pytest
from def_sharp.geometry.distances import point_segment_distances, truncated_feature_distance
from def_sharp.geometry.features import FeatureCurves, chain_segments, sharp_feature_curves
from def_sharp.geometry.shapes import make_shape


def brute_force_distance(points, seg_a, seg_b, samples=20001):
    """Minimum distance to densely sampled segment points (independent of the projection formula)."""
    t = np.linspace(0.0, 1.0, samples)
    result = np.full(len(points), np.inf)
    for a, b in zip(seg_a, seg_b, strict=False):
        samples_xyz = a + t[:, None] * (b - a)
        d = np.linalg.norm(points[:, None] - samples_xyz[None], axis=-1).min(1)
        result = np.minimum(result, d)
    return result


def test_point_segment_distance_matches_brute_force():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3))
    seg_a, seg_b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    exact = point_segment_distances(points, seg_a, seg_b).min(1)
    assert np.allclose(exact, brute_force_distance(points, seg_a, seg_b), atol=2e-4)


def test_degenerate_segment_is_a_point():
    d = point_segment_distances(np.array([[1.0, 1.0, 0.0]]), np.zeros((1, 3)), np.zeros((1, 3)))
    assert d[0, 0] == pytest.approx(np.sqrt(2))


def test_labels_on_shape_match_brute_force_over_adjacent_curves():
    shape = make_shape("notch", seed=3)
    points, faces = shape.mesh.sample(300, return_index=True)
    labels = truncated_feature_distance(points, faces, shape.curves, truncation=1.0)
    seg_a, seg_b = shape.curves.segment_endpoints
    expected = np.empty(len(points))
    for i, (point, face) in enumerate(zip(points, faces, strict=False)):
        patch = shape.curves.face_patch[face]
        adjacent = (shape.curves.segment_patches == patch).any(1)
        expected[i] = min(brute_force_distance(point[None], seg_a[adjacent], seg_b[adjacent], 2001)[0], 1.0)
    assert np.allclose(labels, expected, atol=2e-3)
    assert labels.min() >= 0 and labels.max() <= 1.0


def test_curves_of_other_patches_are_ignored():
    # Point on patch 0; the near segment only borders patches 1 and 2, the far one borders patch 0.
    curves = FeatureCurves(
        vertices=np.array([[0.0, 0.1, 0.0], [1.0, 0.1, 0.0], [0.0, 0.5, 0.0], [1.0, 0.5, 0.0]]),
        segments=np.array([[0, 1], [2, 3]]),
        segment_patches=np.array([[1, 2], [0, 1]]),
        face_patch=np.array([0, 1, 2]),
    )
    label = truncated_feature_distance(np.array([[0.5, 0.0, 0.0]]), np.array([0]), curves, truncation=1.0)
    assert label[0] == pytest.approx(0.5)
    truncated = truncated_feature_distance(np.array([[0.5, 0.0, 0.0]]), np.array([0]), curves, truncation=0.3)
    assert truncated[0] == pytest.approx(0.3)


def test_box_has_twelve_edges_and_six_patches():
    import trimesh

    curves = sharp_feature_curves(trimesh.creation.box((1, 2, 3)), 20.0)
    assert len(curves.segments) == 12
    assert len(np.unique(curves.face_patch)) == 6
    assert len(chain_segments(curves.segments)) == 12


def test_smooth_shape_has_no_curves_and_full_truncation():
    shape = make_shape("sphere", seed=0)
    points, faces = shape.mesh.sample(20, return_index=True)
    assert len(shape.curves.segments) == 0
    assert np.all(truncated_feature_distance(points, faces, shape.curves, 1.0) == 1.0)


def test_cylinder_rims_are_closed_loops():
    shape = make_shape("cylinder", seed=0)
    lines = shape.curves.polylines()
    assert len(lines) == 2
    assert all(np.allclose(line[0], line[-1]) for line in lines)
