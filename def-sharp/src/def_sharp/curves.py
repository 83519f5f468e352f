"""Parametric feature-curve extraction from a point-wise distance-to-feature field (DEF, last stage).

Steps: keep points whose distance is below `threshold_factor * r`; subsample them (Poisson-disk-like voxel
thinning); detect corners by PCA variance-ratio voting over several radii, smoothed by a kNN average; split the
non-corner points into connected components of a radius graph (one per curve piece); build the curve graph by
attaching each piece's ends to nearby corner clusters (constrained endpoints); order each piece along its geodesic
extent, fit a cubic smoothing spline through the ordered points with the attached corners as heavily weighted ends
(closed pieces get a periodic spline); drop curves that are too short or fit badly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import splev, splprep
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from shared_utils.errors import InputError, check_finite, check_shape
from shared_utils.io import load_json, read_point_cloud, save_json, write_line_set

from def_sharp.config import CurvesConfig


@dataclass
class Curve:
    samples: np.ndarray  # (S, 3) points along the fitted spline
    closed: bool
    length: float
    fit_error: float  # largest distance from a spline sample to the piece's points

    def to_json(self) -> dict:
        return {"closed": self.closed, "length": self.length, "fit_error": self.fit_error,
                "samples": self.samples.round(6).tolist()}


def voxel_subsample(points: np.ndarray, radius: float) -> np.ndarray:
    """Indices of one point per voxel of side `radius` (the one nearest the voxel centre)."""
    keys = np.floor(points / radius).astype(np.int64)
    offset = np.linalg.norm(points / radius - keys - 0.5, axis=1)
    order = np.lexsort((offset, keys[:, 2], keys[:, 1], keys[:, 0]))
    sorted_keys = keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    return np.sort(order[first])


def project_to_centreline(samples: np.ndarray, points: np.ndarray, distances: np.ndarray, radius: float,
                           threshold: float) -> np.ndarray:
    """Move every sample across the band of near-feature points onto its centre line: within `radius`, the points'
    mean weighted by 1 / (d + threshold / 4)^2 (points the field puts on the feature dominate), keeping the sample's
    own position along the band's principal direction. Without this the band (about 3 r wide) makes the ordered
    points zig-zag from side to side, and the curve comes out far longer than the feature."""
    tree = cKDTree(points)
    weights_all = 1.0 / (distances + threshold / 4) ** 2
    projected = samples.copy()
    for index, neighbours in enumerate(tree.query_ball_point(samples, radius)):
        if len(neighbours) < 3:
            continue
        local, weights = points[neighbours], weights_all[neighbours]
        centre = (weights[:, None] * local).sum(0) / weights.sum()
        direction = np.linalg.eigh(np.cov(local.T))[1][:, -1]
        projected[index] = centre + direction * ((samples[index] - centre) @ direction)
    return projected


def corner_votes(points: np.ndarray, radii: list[float], ratio: float, smoothing_k: int = 8) -> np.ndarray:
    """Fraction of radii at which the neighbourhood is not line-like (second / first PCA eigenvalue > ratio),
    averaged over the k nearest neighbours."""
    tree = cKDTree(points)
    votes = np.zeros(len(points))
    for radius in radii:
        for index, neighbours in enumerate(tree.query_ball_point(points, radius)):
            if len(neighbours) < 4:
                continue
            eigenvalues = np.linalg.eigvalsh(np.cov(points[neighbours].T))
            votes[index] += eigenvalues[1] / max(eigenvalues[2], 1e-12) > ratio
    votes /= len(radii)
    _, index = tree.query(points, k=min(smoothing_k, len(points)))
    return votes[index.reshape(len(points), -1)].mean(1)


def _radius_components(points: np.ndarray, radius: float) -> tuple[int, np.ndarray, object]:
    graph = cKDTree(points).sparse_distance_matrix(cKDTree(points), radius, output_type="coo_matrix")
    count, labels = connected_components(graph, directed=False)
    return count, labels, graph.tocsr()


def _order_piece(points: np.ndarray, graph, cut_radius: float) -> tuple[np.ndarray, bool]:
    """Order the points of one piece along the curve. Sorting by geodesic distance from an extreme point orders an
    open curve; on a closed loop it interleaves the two branches (the ordered path is much longer than the geodesic
    extent), so the loop is cut near its two extremes into two branches, one walked forward and one backward."""
    start = int(np.argmax(np.nan_to_num(dijkstra(graph, indices=0), posinf=-1)))
    geodesic = np.nan_to_num(dijkstra(graph, indices=start), posinf=0.0)
    order = np.argsort(geodesic)
    extent = geodesic.max()
    path = np.linalg.norm(np.diff(points[order], axis=0), axis=1).sum()
    if path < 1.5 * extent:
        return order, False
    near_start, near_end = geodesic < cut_radius, geodesic > extent - cut_radius
    middle = np.flatnonzero(~near_start & ~near_end)
    count, labels = connected_components(graph[middle][:, middle], directed=False)
    if count != 2:
        return order, False
    # Every point joins the branch of its nearest middle point; branch 0 walks away from the start, branch 1 back.
    branch = labels[cKDTree(points[middle]).query(points)[1]]
    first, second = np.flatnonzero(branch == 0), np.flatnonzero(branch == 1)
    forward = [first[np.argsort(geodesic[first])], second[np.argsort(-geodesic[second])]]
    return np.concatenate(forward), True


def fit_piece(points: np.ndarray, graph, ends: list[np.ndarray], cfg: CurvesConfig) -> Curve | None:
    order, closed = _order_piece(points, graph, 1.5 * cfg.connect_radius)
    ordered = points[order]
    if closed:
        ordered = np.vstack([ordered, ordered[:1]])  # periodic splprep ignores the last point: repeat the first
    weights = np.ones(len(ordered))
    if not closed and ends:
        # Constrained endpoints: attach the corner clusters at the nearer end, with large weights.
        for corner in ends:
            if np.linalg.norm(corner - ordered[0]) <= np.linalg.norm(corner - ordered[-1]):
                ordered, weights = np.vstack([corner, ordered]), np.concatenate([[100.0], weights])
            else:
                ordered, weights = np.vstack([ordered, corner]), np.concatenate([weights, [100.0]])
    # Duplicate points break splprep; drop consecutive near-duplicates.
    keep = np.concatenate([[True], np.linalg.norm(np.diff(ordered, axis=0), axis=1) > 1e-9])
    if closed:
        keep[-1] = True
    ordered, weights = ordered[keep], weights[keep]
    if len(ordered) < 4:
        return None
    degree = min(3, len(ordered) - 1)
    smoothing = len(ordered) * (0.25 * cfg.subsample_radius) ** 2
    try:
        tck, _ = splprep(ordered.T, w=weights, k=degree, s=smoothing, per=int(closed), quiet=2)
    except (ValueError, TypeError):
        return None
    samples = np.stack(splev(np.linspace(0, 1, cfg.samples_per_curve), tck), 1)
    length = float(np.linalg.norm(np.diff(samples, axis=0), axis=1).sum())
    # Spline to points: a spline that swings away from its points between them is a bad fit even when every point
    # lies near some part of it.
    fit_error = float(cKDTree(sample_polylines([ordered], cfg.subsample_radius / 4)).query(samples)[0].max())
    return Curve(samples, closed, length, fit_error)


def extract_curves(points: np.ndarray, distances: np.ndarray, threshold: float, cfg: CurvesConfig) -> list[Curve]:
    """Feature curves from points (N, 3) and their predicted distances (N,)."""
    check_shape(points, (None, 3), "points")
    check_finite(points, "points")
    distances = np.asarray(distances)
    near = distances < cfg.threshold_factor * threshold
    sharp = points[near]
    if len(sharp) < 4:
        return []
    samples = sharp[voxel_subsample(sharp, cfg.subsample_radius)]
    if len(samples) < 4:
        return []
    # Corners are found on the band as it is (projection has no single direction to keep at a corner); only the
    # pieces between them are pulled onto their centre lines.
    corner = corner_votes(samples, cfg.corner_radii, cfg.corner_ratio) > cfg.corner_vote
    corner_centres = []
    if corner.any():
        n_clusters, labels, _ = _radius_components(samples[corner], cfg.connect_radius)
        corner_centres = [samples[corner][labels == label].mean(0) for label in range(n_clusters)]
    pieces = project_to_centreline(samples[~corner], sharp, distances[near], cfg.centreline_radius, threshold)
    if len(pieces) < 4:
        return []
    n_pieces, labels, graph = _radius_components(pieces, cfg.connect_radius)
    members_of = [np.flatnonzero(labels == label) for label in range(n_pieces)]
    members_of = [members for members in members_of if len(members) >= 4]
    attached = [[index for index, centre in enumerate(corner_centres)
                 if cKDTree(pieces[members]).query(centre)[0] < 2 * cfg.connect_radius][:2] for members in members_of]
    corners = [place_corner(centre, [pieces[members] for members, ends in zip(members_of, attached, strict=True)
                                     if index in ends], cfg.corner_radii[-1])
               for index, centre in enumerate(corner_centres)]
    curves = []
    for members, ends in zip(members_of, attached, strict=True):
        curve = fit_piece(pieces[members], graph[members][:, members], [corners[index] for index in ends], cfg)
        if curve is not None and curve.length >= cfg.min_length and curve.fit_error <= cfg.max_fit_error:
            curves.append(curve)
    return curves


def place_corner(centre: np.ndarray, pieces: list[np.ndarray], reach: float) -> np.ndarray:
    """Where the pieces meeting at a corner cluster meet: the least-squares intersection of the lines through each
    piece's end near the corner (points within `reach` of it, direction by PCA). The cluster's mean lies inside the
    corner's blob, off the true vertex; with fewer than two pieces, or nearly parallel ones, it is kept."""
    normal_sum, target_sum = np.zeros((3, 3)), np.zeros(3)
    directions = []
    for piece in pieces:
        end = piece[np.linalg.norm(piece - centre, axis=1) < np.linalg.norm(piece - centre, axis=1).min() + reach]
        if len(end) < 3:
            continue
        mean = end.mean(0)
        direction = np.linalg.eigh(np.cov(end.T))[1][:, -1]
        projector = np.eye(3) - np.outer(direction, direction)
        normal_sum += projector
        target_sum += projector @ mean
        directions.append(direction)
    if len(directions) < 2 or np.linalg.svd(np.array(directions), compute_uv=False)[1] < 0.2:
        return centre
    vertex = np.linalg.solve(normal_sum, target_sum)
    return vertex if np.linalg.norm(vertex - centre) < reach else centre


def sample_polylines(polylines: list[np.ndarray], spacing: float) -> np.ndarray:
    """Points every `spacing` along polylines (for curve metrics)."""
    samples = []
    for line in polylines:
        for a, b in zip(line[:-1], line[1:], strict=False):
            count = max(2, int(np.ceil(np.linalg.norm(b - a) / spacing)) + 1)
            samples.append(a + np.linspace(0, 1, count)[:, None] * (b - a))
    return np.concatenate(samples) if samples else np.zeros((0, 3))


def write_curves(path: Path, curves: list[Curve]) -> None:
    """JSON with every curve's samples, plus a PLY line set beside it."""
    path = Path(path)
    save_json({"curves": [curve.to_json() for curve in curves]}, path)
    if curves:
        points = np.concatenate([curve.samples for curve in curves])
        offsets = np.cumsum([0] + [len(curve.samples) for curve in curves])
        edges = np.concatenate([np.stack([np.arange(a, b - 1), np.arange(a + 1, b)], 1)
                                for a, b in zip(offsets[:-1], offsets[1:], strict=False)])
        write_line_set(path.with_suffix(".ply"), points, edges)


def extract_curves_file(points_path: Path, output: Path, cfg) -> int:
    """`def-sharp curves`: PLY from `predict` (distances in <name>.distances.npy beside it) -> curves JSON + PLY.
    `predict` reports points and distances in the input's units and writes the factor to the training scale in
    <name>.json; the curve radii are training-scale lengths, so the points are brought to that scale and back."""
    points_path = Path(points_path)
    distances_path = points_path.with_suffix(".distances.npy")
    if not distances_path.exists():
        raise InputError(f"distances '{distances_path}' not found; run 'def-sharp predict' first")
    points = read_point_cloud(points_path).points.astype(np.float64)
    distances = np.load(distances_path)
    if len(distances) != len(points):
        raise InputError(f"'{distances_path}' holds {len(distances)} distances for {len(points)} points")
    summary_path = points_path.with_suffix(".json")
    factor = float(load_json(summary_path).get("scale_factor", 1.0)) if summary_path.exists() else 1.0
    curves = extract_curves(points * factor, distances * factor, cfg.eval.threshold, cfg.curves)
    write_curves(output, [Curve(c.samples / factor, c.closed, c.length / factor, c.fit_error / factor)
                          for c in curves])
    return len(curves)
