"""Sharp feature curves of a triangle mesh and the smooth surface patches they bound.

A mesh edge is sharp when the dihedral angle between its two faces exceeds a threshold. The procedural shapes are
tessellated finely enough that smooth surfaces (cylinder sides, spheres) stay well below the threshold, so the sharp
edges are exactly the creases built by construction, and the polylines they form are the ground-truth curves.
Surface patches are the connected components of faces joined across non-sharp edges (the B-rep faces of a CAD model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shared_utils.errors import InputError


@dataclass
class FeatureCurves:
    """Sharp feature segments of a mesh.

    vertices: (V, 3) float64 curve vertices; segments: (S, 2) int vertex indices of each straight piece;
    segment_patches: (S, 2) ids of the surface patches on either side of each segment (-1 when unknown);
    face_patch: (F,) surface patch id of every mesh face.
    """

    vertices: np.ndarray
    segments: np.ndarray
    segment_patches: np.ndarray
    face_patch: np.ndarray

    @property
    def segment_endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices[self.segments[:, 0]], self.vertices[self.segments[:, 1]]

    def polylines(self) -> list[np.ndarray]:
        """The segments chained into polylines, each an (n, 3) array (closed loops repeat their first point)."""
        return [self.vertices[chain] for chain in chain_segments(self.segments)]

    def scaled(self, factor: float) -> FeatureCurves:
        return FeatureCurves(self.vertices * factor, self.segments, self.segment_patches, self.face_patch)


def surface_patches(mesh: trimesh.Trimesh, sharp_adjacency: np.ndarray) -> np.ndarray:
    """Patch id per face: connected components of the face graph restricted to non-sharp adjacencies."""
    smooth_pairs = mesh.face_adjacency[~sharp_adjacency]
    n_faces = len(mesh.faces)
    graph = coo_matrix(
        (np.ones(len(smooth_pairs)), (smooth_pairs[:, 0], smooth_pairs[:, 1])), shape=(n_faces, n_faces)
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def sharp_feature_curves(mesh: trimesh.Trimesh, angle_threshold_deg: float, closed: bool = True) -> FeatureCurves:
    """Sharp edges (dihedral angle above the threshold) of a mesh with their adjacent surface patches. With
    closed=False an open mesh is accepted (edges with one face are boundaries, never sharp), e.g. a scan."""
    if len(mesh.faces) == 0:
        raise InputError("mesh is empty (0 faces)")
    if closed and not mesh.is_watertight:
        raise InputError("mesh is not watertight; sharp curves and surface patches need a closed surface")
    sharp = mesh.face_adjacency_angles > np.radians(angle_threshold_deg)
    face_patch = surface_patches(mesh, sharp)
    segments = mesh.face_adjacency_edges[sharp].astype(np.int64)
    segment_patches = face_patch[mesh.face_adjacency[sharp]]
    return FeatureCurves(np.asarray(mesh.vertices, dtype=np.float64), segments, segment_patches, face_patch)


def chain_segments(segments: np.ndarray) -> list[np.ndarray]:
    """Vertex index chains of the curve graph, split at vertices whose degree is not 2."""
    if len(segments) == 0:
        return []
    neighbours: dict[int, list[tuple[int, int]]] = {}
    for index, (a, b) in enumerate(segments.tolist()):
        neighbours.setdefault(a, []).append((b, index))
        neighbours.setdefault(b, []).append((a, index))
    used = np.zeros(len(segments), dtype=bool)
    chains: list[np.ndarray] = []

    def walk(start: int, first_step: tuple[int, int]) -> list[int]:
        chain = [start]
        vertex, segment = first_step
        while True:
            used[segment] = True
            chain.append(vertex)
            if len(neighbours[vertex]) != 2 or vertex == start:
                return chain
            next_steps = [step for step in neighbours[vertex] if not used[step[1]]]
            if not next_steps:
                return chain
            vertex, segment = next_steps[0]

    for vertex, steps in neighbours.items():
        if len(steps) != 2:
            for step in steps:
                if not used[step[1]]:
                    chains.append(np.asarray(walk(vertex, step)))
    for index in np.flatnonzero(~used):
        if not used[index]:
            a, b = segments[index]
            chains.append(np.asarray(walk(int(a), (int(b), int(index)))))
    return chains


def polyline_lengths(curves: FeatureCurves, split_closed: bool = True) -> np.ndarray:
    """Length of every curve; closed loops count as two halves, as ABC splits a full circle into two curves."""
    lengths = []
    for line in curves.polylines():
        length = float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())
        closed = len(line) > 2 and np.allclose(line[0], line[-1])
        lengths.extend([length / 2, length / 2] if closed and split_closed else [length])
    return np.asarray(lengths)
