"""ABC data set loader: a mesh (.obj) with its feature annotation (.yml) -> the same SharpShape as the procedural
shapes (sharp curves as polylines with their adjacent surface patches), scaled as in DEF-Sim.

Annotation layout (ABC `features/*.yml`): `curves: [{sharp: bool, vert_indices: [...], type: ...}, ...]` and
`surfaces: [{face_indices: [...], type: ...}, ...]`; indices refer to the .obj vertices and faces as stored (the mesh is
loaded without vertex merging so they stay valid).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
import yaml
from shared_utils.errors import InputError

from def_sharp.geometry.features import FeatureCurves
from def_sharp.geometry.shapes import SharpShape, normalise_scale


def _read_obj(path: Path) -> trimesh.Trimesh:
    if not path.exists():
        raise InputError(f"ABC mesh '{path}' does not exist")
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise InputError(f"ABC mesh '{path}' is unreadable ({exc})") from exc
    if len(mesh.faces) == 0:
        raise InputError(f"ABC mesh '{path}' is empty (0 faces)")
    return mesh


def _read_annotation(path: Path) -> dict:
    if not path.exists():
        raise InputError(f"ABC feature annotation '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"ABC feature annotation '{path}' is not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("curves"), list):
        raise InputError(f"ABC feature annotation '{path}' has no 'curves' list")
    return data


def _indices(item: dict, key: str, limit: int, path: Path) -> np.ndarray:
    values = item.get(key)
    if not isinstance(values, list):
        raise InputError(f"ABC feature annotation '{path}' has an entry without a '{key}' list")
    array = np.asarray(values, dtype=np.int64)
    if len(array) and (array.min() < 0 or array.max() >= limit):
        raise InputError(f"ABC feature annotation '{path}' has '{key}' outside [0, {limit})")
    return array


def load_abc(obj_path: str | Path, yml_path: str | Path, *, extent: float = 10.0,
             curve_length_quantile: float = 0.25, smooth_extent: float = 2.0) -> SharpShape:
    obj_path, yml_path = Path(obj_path), Path(yml_path)
    mesh = _read_obj(obj_path)
    annotation = _read_annotation(yml_path)
    n_vertices, n_faces = len(mesh.vertices), len(mesh.faces)

    face_patch = np.full(n_faces, -1, dtype=np.int64)
    for patch_id, surface in enumerate(annotation.get("surfaces") or []):
        face_patch[_indices(surface, "face_indices", n_faces, yml_path)] = patch_id
    unlabelled = face_patch < 0
    face_patch[unlabelled] = face_patch.max() + 1 + np.arange(unlabelled.sum())

    edge_faces: dict[tuple[int, int], list[int]] = {}
    for face_index, face in enumerate(mesh.faces.tolist()):
        for a, b in ((face[0], face[1]), (face[1], face[2]), (face[2], face[0])):
            edge_faces.setdefault((min(a, b), max(a, b)), []).append(face_index)

    segments, segment_patches = [], []
    for curve in annotation["curves"]:
        if not isinstance(curve, dict) or not curve.get("sharp", False):
            continue
        chain = _indices(curve, "vert_indices", n_vertices, yml_path)
        for a, b in zip(chain[:-1], chain[1:], strict=False):
            if a == b:
                continue
            faces = edge_faces.get((min(a, b), max(a, b)), [])
            patches = sorted({int(face_patch[f]) for f in faces})[:2]
            segments.append((a, b))
            segment_patches.append(patches + [-1] * (2 - len(patches)))
    curves = FeatureCurves(
        np.asarray(mesh.vertices, dtype=np.float64),
        np.asarray(segments, dtype=np.int64).reshape(-1, 2),
        np.asarray(segment_patches, dtype=np.int64).reshape(-1, 2),
        face_patch,
    )
    center = mesh.bounds.mean(0)
    mesh = mesh.copy()
    mesh.apply_translation(-center)
    curves.vertices = curves.vertices - center
    mesh, curves = normalise_scale(mesh, curves, extent, curve_length_quantile, smooth_extent)
    return SharpShape(name=obj_path.stem, mesh=mesh, curves=curves)
