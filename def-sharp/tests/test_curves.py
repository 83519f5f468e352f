import numpy as np
import pytest
import trimesh
from def_sharp.config import CurvesConfig, DEFConfig
from def_sharp.curves import extract_curves, sample_polylines, voxel_subsample, write_curves
from def_sharp.whole_model import exact_labels, scan_mesh_views
from scipy.spatial import cKDTree
from test_fusion import _test_shapes


def test_two_separated_lines_give_two_curves(tmp_path):
    t = np.linspace(0, 1, 400)
    line_a = np.c_[t, np.zeros_like(t), np.zeros_like(t)]
    line_b = np.c_[t, np.ones_like(t), np.zeros_like(t)]
    rng = np.random.default_rng(0)
    plane = np.c_[rng.uniform(0, 1, 3000), rng.uniform(0.2, 0.8, 3000), np.zeros(3000)]
    points = np.concatenate([line_a, line_b, plane])
    distances = np.concatenate([np.zeros(800), np.full(3000, 0.5)])
    curves = extract_curves(points, distances, 0.02, CurvesConfig())
    assert len(curves) == 2
    assert all(abs(c.length - 1.0) < 0.1 and c.fit_error < 0.01 and not c.closed for c in curves)
    write_curves(tmp_path / "c.json", curves)
    assert (tmp_path / "c.ply").exists()


def test_circle_is_closed():
    angle = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    circle = np.c_[0.5 * np.cos(angle), 0.5 * np.sin(angle), np.zeros_like(angle)]
    curves = extract_curves(circle, np.zeros(len(circle)), 0.02, CurvesConfig())
    assert len(curves) == 1 and curves[0].closed
    assert abs(curves[0].length - np.pi) < 0.1


def test_voxel_subsample_keeps_one_point_per_voxel():
    points = np.random.default_rng(0).uniform(0, 1, size=(2000, 3))
    keys = np.floor(points[voxel_subsample(points, 0.25)] / 0.25)
    assert len(np.unique(keys, axis=0)) == len(keys) == 64


def test_sample_polylines_spacing():
    samples = sample_polylines([np.array([[0.0, 0, 0], [1.0, 0, 0]])], 0.1)
    assert len(samples) == 11 and np.allclose(samples[-1], [1, 0, 0])


@pytest.mark.parametrize("shape", [s for s in _test_shapes() if s.name != "torus"], ids=lambda shape: shape.name)
def test_curves_from_exact_labels_follow_the_true_edges(shape):
    """Exact labels of a whole model (18 views): every true edge covered within r along 95 % of its length, total
    length within 10 % of the truth, and no curve sample farther than 2 r from the surface."""
    cfg = DEFConfig()
    r = cfg.eval.threshold
    images, scans = scan_mesh_views(shape.mesh, cfg, np.random.default_rng(0))
    labels = exact_labels(shape, scans, cfg.data.scan.truncation)
    points = np.concatenate([s.points[s.mask] for s in scans])
    distances = np.concatenate([label[s.mask] for label, s in zip(labels, scans, strict=True)])
    curves = extract_curves(points, distances, r, cfg.curves)
    dense = cKDTree(sample_polylines([c.samples for c in curves], r / 4))
    for edge in shape.curves.polylines():
        assert (dense.query(sample_polylines([edge], r / 4))[0] < r).mean() > 0.95
    true_length = sum(np.linalg.norm(np.diff(edge, axis=0), axis=1).sum() for edge in shape.curves.polylines())
    assert abs(sum(c.length for c in curves) / true_length - 1) < 0.1
    samples = np.concatenate([c.samples for c in curves])
    assert np.abs(trimesh.proximity.signed_distance(shape.mesh, samples)).max() < 2 * r


def test_a_smooth_shape_gives_no_curves():
    cfg = DEFConfig()
    torus = next(s for s in _test_shapes() if s.name == "torus")
    images, scans = scan_mesh_views(torus.mesh, cfg, np.random.default_rng(0))
    labels = exact_labels(torus, scans, cfg.data.scan.truncation)
    points = np.concatenate([s.points[s.mask] for s in scans])
    distances = np.concatenate([label[s.mask] for label, s in zip(labels, scans, strict=True)])
    assert extract_curves(points, distances, cfg.eval.threshold, cfg.curves) == []
