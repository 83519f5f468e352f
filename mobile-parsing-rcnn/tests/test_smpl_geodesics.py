"""SMPL geodesic look-up for DensePose-COCO GPS, on small files in the DensePose evaluation format."""

import pickle

import numpy as np
import pytest
from mobile_parsing_rcnn.evaluation.smpl_geodesics import SMPLGeodesics, condensed_index
from scipy.io import loadmat, savemat
from shared_utils.errors import InputError


def official_pdist_column(full: np.ndarray) -> np.ndarray:
    """The ``Pdist_matrix`` column of a symmetric distance matrix, in the order DensePose's reader indexes it: for
    vertices i > j, position k = (n^2 - n) / 2 - 1 - (the upper-triangle row-major position of (n-1-i, n-1-j)),
    written out pair by pair from that formula (not from scipy)."""
    n = len(full)
    column = np.full(n * (n - 1) // 2, np.nan)
    for i in range(n):
        for j in range(i):
            a, b = n - 1 - i, n - 1 - j  # a < b
            upper_position = a * n - a * (a + 1) // 2 + (b - a - 1)
            column[(n * n - n) // 2 - 1 - upper_position] = full[i, j]
    assert not np.isnan(column).any()
    return column


def test_condensed_index_follows_the_official_reader():
    n = 7
    rng = np.random.default_rng(0)
    full = rng.uniform(1, 2, (n, n))
    full = full + full.T
    column = official_pdist_column(full)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    assert np.array_equal(column[condensed_index(a, b)], full[a, b])


def _euclidean(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


@pytest.fixture
def smpl_folder(tmp_path):
    rng = np.random.default_rng(0)
    num_subdiv, num_mesh = 60, 12
    points = rng.uniform(0, 1, (num_mesh, 3))
    savemat(tmp_path / "SMPL_subdiv.mat", {
        "U_subdiv": rng.uniform(0, 1, (1, num_subdiv)),
        "V_subdiv": rng.uniform(0, 1, (1, num_subdiv)),
        "Part_ID_subdiv": (np.arange(num_subdiv) % 24 + 1)[None].astype(float),
    })
    savemat(tmp_path / "SMPL_SUBDIV_TRANSFORM.mat", {"index": rng.integers(1, num_mesh + 1, (num_subdiv, 1))})
    with open(tmp_path / "Pdist_matrix.pkl", "wb") as handle:
        pickle.dump({"Pdist_matrix": official_pdist_column(_euclidean(points))[:, None]}, handle)
    return tmp_path, points


def test_distances_equal_a_direct_nearest_vertex_computation(smpl_folder):
    folder, points = smpl_folder
    geo = SMPLGeodesics(folder)
    subdiv = loadmat(folder / "SMPL_subdiv.mat")
    u, v = subdiv["U_subdiv"][0], subdiv["V_subdiv"][0]
    parts = subdiv["Part_ID_subdiv"][0].astype(int)
    transform = loadmat(folder / "SMPL_SUBDIV_TRANSFORM.mat")["index"][:, 0]
    rng = np.random.default_rng(1)
    n = 200
    pa, pb = rng.integers(0, 25, n), rng.integers(1, 25, n)
    ua, va, ub, vb = rng.uniform(0, 1, (4, n))
    full = _euclidean(points)

    def vertex(p, uu, vv):  # brute force: nearest subdivided vertex of the part in (U, V), then the transform
        members = np.nonzero(parts == p)[0]
        best = members[np.argmin((u[members] - uu) ** 2 + (v[members] - vv) ** 2)]
        return transform[best] - 1

    expected = np.array([np.inf if a == 0 else full[vertex(a, ua[i], va[i]), vertex(b, ub[i], vb[i])]
                         for i, (a, b) in enumerate(zip(pa, pb, strict=True))])
    got = geo(pa, ua, va, pb, ub, vb)
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    assert np.allclose(got[np.isfinite(got)], expected[np.isfinite(expected)])
    assert np.all(geo(pb, ub, vb, pb, ub, vb) == 0.0)


def test_missing_or_inconsistent_files_give_one_clear_error(smpl_folder, tmp_path_factory):
    with pytest.raises(InputError, match="lacks SMPL_subdiv.mat"):
        SMPLGeodesics(tmp_path_factory.mktemp("empty"))
    folder, _ = smpl_folder
    with open(folder / "Pdist_matrix.pkl", "wb") as handle:
        pickle.dump({"Pdist_matrix": np.zeros((11, 1))}, handle)
    with pytest.raises(InputError, match="not n \\(n - 1\\) / 2"):
        SMPLGeodesics(folder)
