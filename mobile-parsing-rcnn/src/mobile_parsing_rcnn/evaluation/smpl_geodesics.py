"""Geodesic distances on the SMPL surface for DensePose-COCO evaluation, from the DensePose authors' data files.

The files (distributed with DensePose's evaluation code, not redistributable here) live in one folder:
- ``SMPL_subdiv.mat``: ``U_subdiv``, ``V_subdiv`` and ``Part_ID_subdiv`` (1..24) of every vertex of the subdivided
  SMPL mesh, i.e. where each vertex lies in the 24 part charts;
- ``SMPL_SUBDIV_TRANSFORM.mat``: ``index``, for every subdivided vertex the (1-based) vertex of the mesh on which the
  distances were computed;
- ``Pdist_matrix.pkl``: ``Pdist_matrix``, the pairwise geodesic distances of those vertices as one column over the
  pairs (a, b) with a > b in the order (1, 0), (2, 0), (2, 1), (3, 0), ... (the lower triangle row by row): the
  position DensePose's ``getDistances`` and detectron2's ``getDistancesUV`` compute for a pair, larger vertex first.
  This is not the order of ``scipy.spatial.distance.squareform`` (the upper triangle row by row).

A chart point (I, U, V) is mapped to the subdivided vertex of part I nearest in (U, V), then through the transform
to a distance-mesh vertex; the distance of two chart points is the matrix entry of their two vertices (0 for the
same vertex, infinite when either point is background).
"""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
from scipy.io import loadmat
from scipy.spatial import cKDTree
from shared_utils.errors import InputError

FILES = ("SMPL_subdiv.mat", "SMPL_SUBDIV_TRANSFORM.mat", "Pdist_matrix.pkl")
NUM_PARTS = 24


def condensed_index(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Position of the pair (a, b), a != b (0-based vertices), in ``Pdist_matrix``: larger vertex first, pairs ordered
    as the lower triangle of the distance matrix row by row, so the pairs of row ``high`` start at
    ``high (high - 1) / 2``."""
    low, high = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return high * (high - 1) // 2 + low


class SMPLGeodesics:
    """``geodesics(I_a, U_a, V_a, I_b, U_b, V_b) -> distances`` on the SMPL surface."""

    def __init__(self, folder: str | pathlib.Path):
        folder = pathlib.Path(folder)
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise InputError(f"SMPL evaluation folder '{folder}' lacks {', '.join(missing)} (DensePose eval data)")
        try:
            subdiv = loadmat(folder / FILES[0])
            transform = loadmat(folder / FILES[1])["index"].reshape(-1).astype(np.int64)
            with open(folder / FILES[2], "rb") as handle:
                pdist = np.asarray(pickle.load(handle, encoding="latin1")["Pdist_matrix"], dtype=np.float64)
            u = np.asarray(subdiv["U_subdiv"], dtype=np.float64).reshape(-1)
            v = np.asarray(subdiv["V_subdiv"], dtype=np.float64).reshape(-1)
            parts = np.asarray(subdiv["Part_ID_subdiv"]).reshape(-1).astype(np.int64)
        except (OSError, KeyError, ValueError, pickle.UnpicklingError) as exc:
            raise InputError(f"SMPL evaluation files in '{folder}' could not be read ({exc})") from exc
        self.distances = pdist.reshape(-1)
        # number of distance-mesh vertices from the condensed length n (n - 1) / 2
        self.num_vertices = int(round((1 + np.sqrt(1 + 8 * len(self.distances))) / 2))
        if self.num_vertices * (self.num_vertices - 1) // 2 != len(self.distances):
            raise InputError(f"Pdist_matrix in '{folder}' has {len(self.distances)} entries, not n (n - 1) / 2")
        if not (len(u) == len(v) == len(parts) == len(transform)):
            raise InputError(f"SMPL_subdiv.mat and SMPL_SUBDIV_TRANSFORM.mat in '{folder}' disagree in vertex count")
        if transform.min() < 1 or transform.max() > self.num_vertices:
            raise InputError(f"SMPL_SUBDIV_TRANSFORM.mat in '{folder}' indexes outside the distance matrix")
        self.transform = transform - 1
        self.trees, self.part_vertices = {}, {}
        for part in range(1, NUM_PARTS + 1):
            members = np.nonzero(parts == part)[0]
            if len(members):
                self.trees[part] = cKDTree(np.stack([u[members], v[members]], axis=1))
                self.part_vertices[part] = members

    def vertices(self, part: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Distance-mesh vertex of each chart point; -1 for background or a part without vertices."""
        part = np.asarray(part, dtype=np.int64)
        out = np.full(part.shape, -1, dtype=np.int64)
        for p in np.unique(part):
            if p not in self.trees:
                continue
            sel = part == p
            _, nearest = self.trees[p].query(np.stack([np.asarray(u)[sel], np.asarray(v)[sel]], axis=1))
            out[sel] = self.transform[self.part_vertices[p][nearest]]
        return out

    def __call__(self, part_a, u_a, v_a, part_b, u_b, v_b) -> np.ndarray:
        va, vb = self.vertices(part_a, u_a, v_a), self.vertices(part_b, u_b, v_b)
        dist = np.full(va.shape, np.inf)
        ok = (va >= 0) & (vb >= 0)
        same = ok & (va == vb)
        dist[same] = 0.0
        pair = ok & ~same
        dist[pair] = self.distances[condensed_index(va[pair], vb[pair])]
        return dist
