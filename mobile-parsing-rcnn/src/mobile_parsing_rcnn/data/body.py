"""A synthetic articulated body with DensePose's 24 parts, one UV chart per part, and its own surface geodesics.

The body is 14 ellipsoids, one per DensePose coarse part. Each ellipsoid has a right-handed frame (e1, e2, e3) and
radii (a, b, c); its surface point at angles (theta, phi) is ``centre + R diag(a, b, c) (sin phi cos theta,
sin phi sin theta, cos phi)``. ``v = phi / pi`` runs from the proximal end (0) to the distal end (1). Ellipsoids that
hold two fine parts split at ``sin theta = 0``: front/back halves for torso and limbs (``e2`` points forward, so
``theta in [0, pi)`` is the front part, ``u = theta / pi``) and right/left halves for the head. Hands and feet are
one part each, ``u = theta / (2 pi)``.

Body frame: X to the person's left, Y up, Z forward; the left/right mirror is ``X -> -X``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree

NUM_PARTS = 24
NUM_COARSE = 14

# DensePose fine part index (1..24) -> its left/right counterpart under a horizontal flip
FLIP_PART = np.array([0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23])
# DensePose coarse part index (1..14) -> counterpart
FLIP_COARSE = np.array([0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14])
# fine part -> coarse part (DensePose-COCO convention)
FINE_TO_COARSE = np.array([0, 1, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 14])


@dataclass(frozen=True)
class Segment:
    """One ellipsoid: coarse part id, proximal joint, distal point (rest pose), radii across the bone."""

    coarse: int
    name: str
    joint: str
    proximal: tuple[float, float, float]
    distal: tuple[float, float, float]
    radius_x: float
    radius_z: float
    kind: str  # "front_back", "right_left" or "full"
    # fine parts: (front or right half, back or left half) or (whole,)
    fine: tuple[int, ...]


def _limb(coarse, name, joint, proximal, distal, r, fine_front, fine_back, flatten=0.85):
    return Segment(coarse, name, joint, proximal, distal, r, r * flatten, "front_back", (fine_front, fine_back))


def _mirror(p):
    return (-p[0], p[1], p[2])


def _build_segments() -> tuple[Segment, ...]:
    shoulder, elbow, wrist, hand_end = (0.2, 1.45, 0.0), (0.44, 1.3, 0.0), (0.64, 1.15, 0.0), (0.72, 1.09, 0.0)
    hip, knee, ankle, toe = (0.1, 0.93, 0.0), (0.12, 0.52, 0.0), (0.13, 0.1, 0.0), (0.13, 0.04, 0.18)
    left = [
        _limb(10, "upper_arm_left", "shoulder_left", shoulder, elbow, 0.055, 17, 15),
        _limb(12, "lower_arm_left", "elbow_left", elbow, wrist, 0.045, 21, 19),
        Segment(3, "hand_left", "wrist_left", wrist, hand_end, 0.045, 0.025, "full", (4,)),
        _limb(7, "upper_leg_left", "hip_left", hip, knee, 0.08, 10, 8),
        _limb(9, "lower_leg_left", "knee_left", knee, ankle, 0.06, 14, 12),
        Segment(4, "foot_left", "ankle_left", ankle, toe, 0.045, 0.04, "full", (5,)),
    ]
    right_coarse = {10: 11, 12: 13, 3: 2, 7: 6, 9: 8, 4: 5}
    right = []
    for s in left:
        right.append(Segment(right_coarse[s.coarse], s.name.replace("left", "right"), s.joint.replace("left", "right"),
                             _mirror(s.proximal), _mirror(s.distal), s.radius_x, s.radius_z, s.kind,
                             tuple(int(FLIP_PART[f]) for f in s.fine)))
    torso = Segment(1, "torso", "pelvis", (0.0, 1.52, 0.0), (0.0, 0.88, 0.0), 0.19, 0.12, "front_back", (2, 1))
    head = Segment(14, "head", "neck", (0.0, 1.82, 0.0), (0.0, 1.56, 0.0), 0.095, 0.105, "right_left", (23, 24))
    return (torso, head, *left, *right)


SEGMENTS = _build_segments()
PART_TO_SEGMENT = np.zeros(NUM_PARTS + 1, dtype=np.int64)
for _index, _segment in enumerate(SEGMENTS):
    for _fine in _segment.fine:
        PART_TO_SEGMENT[_fine] = _index

# kinematic tree: joint -> parent joint (the pelvis is the root)
JOINT_PARENT = {
    "pelvis": None, "neck": "pelvis",
    "shoulder_left": "pelvis", "elbow_left": "shoulder_left", "wrist_left": "elbow_left",
    "shoulder_right": "pelvis", "elbow_right": "shoulder_right", "wrist_right": "elbow_right",
    "hip_left": "pelvis", "knee_left": "hip_left", "ankle_left": "knee_left",
    "hip_right": "pelvis", "knee_right": "hip_right", "ankle_right": "knee_right",
}
JOINT_POSITION = {"pelvis": np.array([0.0, 0.93, 0.0]), "neck": np.array([0.0, 1.55, 0.0])}
for _segment in SEGMENTS:
    JOINT_POSITION.setdefault(_segment.joint, np.asarray(_segment.proximal, dtype=np.float64))


def segment_frame(segment: Segment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rest-pose centre (3,), right-handed frame R (3, 3; columns e1, e2, e3) and radii (3,) of an ellipsoid."""
    proximal, distal = np.asarray(segment.proximal), np.asarray(segment.distal)
    centre = 0.5 * (proximal + distal)
    e3 = proximal - distal
    half_length = 0.5 * np.linalg.norm(e3) * 1.12  # slight overlap so neighbouring parts join
    e3 = e3 / np.linalg.norm(e3)
    if segment.kind == "right_left":
        reference = np.array([-1.0, 0.0, 0.0])  # e2 towards the person's right
    elif segment.name.startswith("foot"):
        reference = np.array([0.0, 1.0, 0.0])  # the foot points forward, so its "front" is up
    else:
        reference = np.array([0.0, 0.0, 1.0])
    e2 = reference - np.dot(reference, e3) * e3
    e2 = e2 / np.linalg.norm(e2)
    e1 = np.cross(e2, e3)
    radii = np.array([segment.radius_x, segment.radius_z, half_length])
    if segment.kind == "right_left":
        radii = np.array([segment.radius_z, segment.radius_x, half_length])
    return centre, np.stack([e1, e2, e3], axis=1), radii


def chart_to_angles(part: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fine part, U, V) -> (segment index, theta, phi)."""
    part = np.asarray(part, dtype=np.int64)
    seg = PART_TO_SEGMENT[part]
    first = np.array([SEGMENTS[s].fine[0] for s in range(len(SEGMENTS))])[seg] == part
    full = np.array([SEGMENTS[s].kind == "full" for s in range(len(SEGMENTS))])[seg]
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    theta = np.where(full, 2 * np.pi * u, np.where(first, np.pi * u, np.pi * (1.0 + u)))
    phi = np.pi * np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return seg, theta, phi


def angles_to_chart(seg: np.ndarray, theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment index, theta, phi) -> (fine part, U, V); the inverse of :func:`chart_to_angles`."""
    seg = np.asarray(seg, dtype=np.int64)
    theta = np.mod(theta, 2 * np.pi)
    full = np.array([SEGMENTS[s].kind == "full" for s in range(len(SEGMENTS))])[seg]
    first_half = theta < np.pi
    fine_first = np.array([SEGMENTS[s].fine[0] for s in range(len(SEGMENTS))])[seg]
    fine_second = np.array([SEGMENTS[s].fine[-1] for s in range(len(SEGMENTS))])[seg]
    part = np.where(full | first_half, fine_first, fine_second)
    u = np.where(full, theta / (2 * np.pi), np.where(first_half, theta / np.pi, theta / np.pi - 1.0))
    return part, np.clip(u, 0.0, 1.0), np.clip(phi / np.pi, 0.0, 1.0)


def surface_points(part, u, v) -> np.ndarray:
    """Rest-pose 3D points (N, 3) of chart coordinates."""
    seg, theta, phi = chart_to_angles(part, u, v)
    out = np.zeros((len(seg), 3))
    for s in np.unique(seg):
        centre, frame, radii = segment_frame(SEGMENTS[s])
        m = seg == s
        local = np.stack([np.sin(phi[m]) * np.cos(theta[m]), np.sin(phi[m]) * np.sin(theta[m]), np.cos(phi[m])], 1)
        out[m] = centre + (local * radii) @ frame.T
    return out


def flip_chart(part, u, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chart coordinates of the mirrored (X -> -X) surface point: what a horizontal image flip does to labels.

    Mirroring a left frame gives the right frame with e1 negated (frames stay right-handed), so theta -> pi - theta
    for every ellipsoid with a forward e2 and theta -> -theta for the head, whose e2 points sideways.
    """
    seg, theta, phi = chart_to_angles(part, u, v)
    mirrored = np.array([_mirror_segment_index(s) for s in range(len(SEGMENTS))])[seg]
    sideways = np.array([SEGMENTS[s].kind == "right_left" for s in range(len(SEGMENTS))])[seg]
    theta_new = np.where(sideways, -theta, np.pi - theta)
    return angles_to_chart(mirrored, theta_new, phi)


@cache
def _mirror_index_table() -> tuple[int, ...]:
    names = [s.name for s in SEGMENTS]
    out = []
    for s in SEGMENTS:
        twin = s.name.replace("left", "@").replace("right", "left").replace("@", "right")
        out.append(names.index(twin))
    return tuple(out)


def _mirror_segment_index(index: int) -> int:
    return _mirror_index_table()[index]


def uv_symmetry_tables(resolution: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """DensePose-style ``U_transforms`` / ``V_transforms`` (24, R, R) indexed ``[part - 1, V_loc, U_loc]``."""
    # chart edges are seams whose mirror lies on the far edge: sample just inside, where the side is unambiguous
    grid = np.clip(np.arange(resolution) / (resolution - 1), 1e-6, 1 - 1e-6)
    vv, uu = np.meshgrid(grid, grid, indexing="ij")
    u_tables = np.zeros((NUM_PARTS, resolution, resolution), dtype=np.float32)
    v_tables = np.zeros_like(u_tables)
    for part in range(1, NUM_PARTS + 1):
        _, u_new, v_new = flip_chart(np.full(uu.size, part), uu.ravel(), vv.ravel())
        u_tables[part - 1] = u_new.reshape(uu.shape)
        v_tables[part - 1] = v_new.reshape(uu.shape)
    return u_tables, v_tables


# ---------------------------------------------------------------------------------------------------------- geodesics
GEODESIC_THETA_STEPS = 20
GEODESIC_PHI_STEPS = 10
_JOINED = [("torso", "head"), ("torso", "upper_arm_left"), ("torso", "upper_arm_right"), ("torso", "upper_leg_left"),
           ("torso", "upper_leg_right")] + [
    (a + side, b + side) for side in ("left", "right")
    for a, b in (("upper_arm_", "lower_arm_"), ("lower_arm_", "hand_"), ("upper_leg_", "lower_leg_"),
                 ("lower_leg_", "foot_"))]


def _vertex_grid() -> np.ndarray:
    """Rest-pose vertices (S, T, P, 3) at the centres of a (theta, phi) grid on every ellipsoid."""
    theta = (np.arange(GEODESIC_THETA_STEPS) + 0.5) / GEODESIC_THETA_STEPS * 2 * np.pi
    phi = (np.arange(GEODESIC_PHI_STEPS) + 0.5) / GEODESIC_PHI_STEPS * np.pi
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    local = np.stack([np.sin(ph) * np.cos(th), np.sin(ph) * np.sin(th), np.cos(ph)], -1)
    out = []
    for segment in SEGMENTS:
        centre, frame, radii = segment_frame(segment)
        out.append(centre + (local * radii) @ frame.T)
    return np.stack(out)


@lru_cache(maxsize=1)
def geodesic_distance_matrix() -> np.ndarray:
    """All-pairs geodesic distances (V, V) in metres between surface vertices, by Dijkstra on the surface graph.

    Graph: the (theta, phi) grid of each ellipsoid (theta wraps, the first and last phi rings join across their
    pole) plus edges between the mutually close vertices of ellipsoids that meet at a joint.
    """
    vertices = _vertex_grid()
    n_seg, n_t, n_p, _ = vertices.shape
    index = np.arange(n_seg * n_t * n_p).reshape(n_seg, n_t, n_p)
    flat = vertices.reshape(-1, 3)
    rows, cols = [], []
    rows.append(index.ravel())
    cols.append(np.roll(index, -1, axis=1).ravel())
    rows.append(index[:, :, :-1].ravel())
    cols.append(index[:, :, 1:].ravel())
    half = n_t // 2
    for ring in (0, n_p - 1):
        rows.append(index[:, :half, ring].ravel())
        cols.append(index[:, half:, ring].ravel())
    names = [s.name for s in SEGMENTS]
    for a, b in _JOINED:
        va, vb = index[names.index(a)].ravel(), index[names.index(b)].ravel()
        dist, nearest = cKDTree(flat[vb]).query(flat[va])
        close = dist <= max(np.sort(dist)[min(6, len(dist) - 1)], 0.03)
        rows.append(va[close])
        cols.append(vb[nearest[close]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    weights = np.linalg.norm(flat[rows] - flat[cols], axis=1) + 1e-9
    graph = coo_matrix((weights, (rows, cols)), shape=(len(flat), len(flat))).tocsr()
    return shortest_path(graph, method="D", directed=False).astype(np.float32)


def chart_to_vertex(part, u, v) -> np.ndarray:
    """Index of the geodesic-graph vertex nearest in chart space to (part, U, V); -1 for background (part 0)."""
    part = np.asarray(part, dtype=np.int64)
    fg = part > 0
    seg, theta, phi = chart_to_angles(np.where(fg, part, 1), u, v)
    t = np.clip((theta / (2 * np.pi) * GEODESIC_THETA_STEPS).astype(np.int64), 0, GEODESIC_THETA_STEPS - 1)
    p = np.clip((phi / np.pi * GEODESIC_PHI_STEPS).astype(np.int64), 0, GEODESIC_PHI_STEPS - 1)
    vertex = (seg * GEODESIC_THETA_STEPS + t) * GEODESIC_PHI_STEPS + p
    return np.where(fg, vertex, -1)


def geodesic_distance(part_a, u_a, v_a, part_b, u_b, v_b) -> np.ndarray:
    """Pointwise geodesic distance between two sets of chart points; infinite where either is background."""
    va, vb = chart_to_vertex(part_a, u_a, v_a), chart_to_vertex(part_b, u_b, v_b)
    dist = np.full(va.shape, np.inf, dtype=np.float64)
    ok = (va >= 0) & (vb >= 0)
    if ok.any():
        dist[ok] = geodesic_distance_matrix()[va[ok], vb[ok]]
    return dist


# --------------------------------------------------------------------------------------------------------------- pose
def _rotation(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def random_joint_rotations(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Plausible random local joint rotations (3, 3) keyed by joint name."""
    rot = {name: np.eye(3) for name in JOINT_PARENT}
    rot["pelvis"] = _rotation("x", rng.uniform(-0.15, 0.25))
    rot["neck"] = _rotation("y", rng.uniform(-0.4, 0.4)) @ _rotation("x", rng.uniform(-0.2, 0.3))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        # shoulder: raise/lower the arm in the frontal plane (about Z) and swing it forward/back (about X)
        rot[f"shoulder_{side}"] = _rotation("z", sign * rng.uniform(-1.0, 0.9)) @ _rotation("x", rng.uniform(-1.2, 0.6))
        rot[f"elbow_{side}"] = _rotation("x", -rng.uniform(0.0, 1.8))
        rot[f"wrist_{side}"] = _rotation("x", rng.uniform(-0.4, 0.4))
        rot[f"hip_{side}"] = _rotation("x", -rng.uniform(-0.4, 1.2)) @ _rotation("z", sign * rng.uniform(-0.05, 0.35))
        rot[f"knee_{side}"] = _rotation("x", rng.uniform(0.0, 1.6))
        rot[f"ankle_{side}"] = _rotation("x", rng.uniform(-0.3, 0.3))
    return rot


def posed_segments(joint_rotations: dict[str, np.ndarray], root_rotation: np.ndarray, root_translation: np.ndarray):
    """Forward kinematics: list of (centre, frame, radii) per segment in world coordinates."""
    global_rot, global_pos = {}, {}
    for joint in JOINT_PARENT:  # parents precede children in the dict
        parent = JOINT_PARENT[joint]
        if parent is None:
            global_rot[joint] = root_rotation @ joint_rotations[joint]
            global_pos[joint] = root_rotation @ JOINT_POSITION[joint] + root_translation
        else:
            global_rot[joint] = global_rot[parent] @ joint_rotations[joint]
            offset = JOINT_POSITION[joint] - JOINT_POSITION[parent]
            global_pos[joint] = global_pos[parent] + global_rot[parent] @ offset
    out = []
    for segment in SEGMENTS:
        centre, frame, radii = segment_frame(segment)
        g = global_rot[segment.joint]
        p = JOINT_POSITION[segment.joint]
        out.append((global_pos[segment.joint] + g @ (centre - p), g @ frame, radii))
    return out
