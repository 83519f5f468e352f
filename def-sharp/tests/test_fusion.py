import numpy as np
import pytest
import trimesh
from def_sharp.data.scanning import camera_looking_along, scan
from def_sharp.fusion import ViewPrediction, combine, fuse_views


def _two_box_views(value_a, value_b):
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    views, faces = [], []
    for direction, value in (((-1.0, -0.3, -0.6), value_a), ((-1.0, 0.5, 0.4), value_b)):
        camera = camera_looking_along(np.array(direction), np.zeros(3), 2.0, 0.02, 96)
        result = scan(box, camera)
        points = result.points[result.mask]
        values = value(points) if callable(value) else np.full(len(points), value)
        views.append(ViewPrediction(camera, points, values))
        faces.append(box.face_normals[result.face_index[result.mask]])
    return views, faces


def test_two_views_of_a_box_fuse_to_the_per_point_minimum():
    views, normals = _two_box_views(0.7, 0.2)
    fused = fuse_views(views, "min")
    # View A sees +x, +y, +z; view B sees +x, -y, -z: the +x face is the only one both see.
    for view_index, (values, face_normals) in enumerate(zip(fused, normals, strict=False)):
        seen_by_both = face_normals[:, 0] > 0.5
        interior = _away_from_silhouette(views[view_index].points)
        assert np.allclose(values[seen_by_both & interior], 0.2)
        alone = ~seen_by_both & interior
        assert np.allclose(values[alone], views[view_index].distances[alone])


def _away_from_silhouette(points, margin=0.1):
    return (np.abs(points) < 0.5 - margin).sum(1) >= 2


def test_fused_min_equals_min_of_interpolated_smooth_fields():
    field_a = lambda p: 0.5 + 0.3 * p[:, 1]  # noqa: E731
    field_b = lambda p: 0.5 - 0.3 * p[:, 2]  # noqa: E731
    views, normals = _two_box_views(field_a, field_b)
    fused = fuse_views(views, "min")
    points = views[0].points
    shared = (normals[0][:, 0] > 0.5) & _away_from_silhouette(points)
    expected = np.minimum(field_a(points), field_b(points))
    assert np.allclose(fused[0][shared], expected[shared], atol=0.01)


def test_robust_min_drops_outliers_then_takes_min():
    estimates = np.array([[0.0, 0.5, 0.55, 0.6, 0.62, 0.65, 0.7, 0.71, 0.8, 1.0]])
    assert combine(estimates, "min")[0] == 0.0
    low, high = np.quantile(estimates[0], [0.2, 0.8])
    kept = estimates[0][(estimates[0] >= low) & (estimates[0] <= high)]
    assert combine(estimates, "robust_min", (0.2, 0.8))[0] == pytest.approx(kept.min())
    with_missing = np.array([[np.nan, 0.3, 0.1]])
    assert combine(with_missing, "min")[0] == pytest.approx(0.1)


def test_chunking_does_not_change_the_result():
    views, _ = _two_box_views(lambda p: p[:, 0] ** 2, lambda p: p[:, 1] ** 2)
    whole = fuse_views(views, "min", chunk_size=10**6)
    chunked = fuse_views(views, "min", chunk_size=777)
    assert all(np.array_equal(a, b) for a, b in zip(whole, chunked, strict=False))


def test_robust_min_with_two_estimates_takes_their_median():
    assert combine(np.array([[0.2, 0.6]]), "robust_min")[0] == pytest.approx(0.4)
    assert np.isnan(combine(np.array([[np.nan, np.nan]]), "min")[0])
