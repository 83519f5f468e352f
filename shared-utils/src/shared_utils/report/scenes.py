"""Interactive 3D views of a run's meshes, point clouds and line sets: plotly figures whose JavaScript the page
inlines once, so that they work from disk with no network.

Every 3D file in the run folder (outside ``checkpoints/`` and ``logs/`` folders) is drawn; the files of one
sub-folder of ``pictures/`` share one view (points + curves, a cloud + camera frustums), every other file gets its own
view."""

from __future__ import annotations

import base64
import pathlib
from dataclasses import dataclass, field

import numpy as np

MESH_SUFFIXES = {".obj", ".off", ".stl"}
CLOUD_SUFFIXES = {".pcd", ".xyz", ".xyzrgb", ".pts"}
SUFFIXES = {".ply"} | MESH_SUFFIXES | CLOUD_SUFFIXES
SKIPPED_FOLDERS = {"checkpoints", "logs"}
STANDARD_VERTEX_PROPERTIES = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "alpha"}
# A page holds every view's data: clouds are subsampled and meshes decimated to keep it openable.
MAX_POINTS = 60_000
MAX_FACES = 150_000
MAX_VIEWS = 16
VIEW_HEIGHT_PX = 520


@dataclass
class Scene:
    name: str
    files: list[pathlib.Path] = field(default_factory=list)


def find_scenes(run_path: pathlib.Path, pictures: pathlib.Path) -> list[Scene]:
    scenes: dict[str, Scene] = {}
    for path in sorted(run_path.rglob("*")):
        relative = path.relative_to(run_path)
        if (path.suffix.lower() not in SUFFIXES or not path.is_file()
                or any(part in SKIPPED_FOLDERS or part.startswith(".") for part in relative.parts[:-1])):
            continue
        inside = path.relative_to(pictures).parts if path.is_relative_to(pictures) else ()
        name = inside[0] if len(inside) > 1 else relative.as_posix()
        scenes.setdefault(name, Scene(name)).files.append(path)
    return list(scenes.values())


def ply_header(path: pathlib.Path) -> tuple[dict[str, int], list[str]]:
    """``({element: count}, [vertex property names])`` from a PLY header (elements: vertex, face, edge, ...)."""
    elements, vertex_properties, element = {}, [], None
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("ascii", errors="replace").strip()
            if line == "end_header":
                break
            words = line.split()
            if len(words) == 3 and words[0] == "element" and words[2].isdigit():
                element = words[1]
                elements[element] = int(words[2])
            elif len(words) == 3 and words[0] == "property" and element == "vertex":
                vertex_properties.append(words[2])
    return elements, vertex_properties


def kind_of(path: pathlib.Path) -> str:
    """``mesh``, ``lines`` or ``points``."""
    suffix = path.suffix.lower()
    if suffix in MESH_SUFFIXES:
        return "mesh"
    if suffix in CLOUD_SUFFIXES:
        return "points"
    elements, _ = ply_header(path)
    if elements.get("face", 0) > 0:
        return "mesh"
    if elements.get("edge", 0) > 0:
        return "lines"
    return "points"


def _css_colors(colors: np.ndarray) -> list[str]:
    """(N, 3|4) colours in [0, 1] (or uint8) as ``#rrggbb``, the form plotly takes per point and per vertex."""
    colors = np.asarray(colors)[:, :3]
    if colors.dtype != np.uint8:
        colors = (np.clip(colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in colors.tolist()]


def _typed(values, dtype: str = "f4") -> dict:
    """plotly.js's typed-array form (base64 of the raw little-endian values): a third of the size of JSON numbers
    and no per-number encoding."""
    array = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}


def _xyz(points: np.ndarray) -> dict:
    return {"x": _typed(points[:, 0]), "y": _typed(points[:, 1]), "z": _typed(points[:, 2])}


def _subsample(count: int, limit: int) -> np.ndarray:
    # Fixed seed: regenerating a report shows the same points.
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, size=limit, replace=False))


def scalar_fields(path: pathlib.Path) -> list[str]:
    """Per-point scalar properties of a PLY cloud beyond position, normal and colour (e.g. ``distance``)."""
    if path.suffix.lower() != ".ply":
        return []
    return [name for name in ply_header(path)[1] if name not in STANDARD_VERTEX_PROPERTIES]


def _points_trace(path: pathlib.Path, label: str) -> dict:
    """Points coloured by their first scalar field (with a colour bar named after it), else by their RGB colours,
    else by height."""
    from ..io.geometry import read_point_cloud, read_point_scalars

    cloud = read_point_cloud(path)
    keep = _subsample(len(cloud.points), MAX_POINTS)
    xyz = cloud.points[keep]
    if len(keep) < len(cloud.points):
        label = f"{label} ({len(keep):,} of {len(cloud.points):,} points)"
    scalars = scalar_fields(path)
    if scalars:
        values = read_point_scalars(path, scalars[0])[keep]
        marker = {"color": _typed(values), "colorscale": "Viridis",
                  "colorbar": {"title": {"text": scalars[0].replace("_", " ")}, "thickness": 12}}
    elif cloud.colors is not None:
        marker = {"color": _css_colors(cloud.colors[keep])}
    else:
        marker = {"color": _typed(xyz[:, 2]), "colorscale": "Viridis",
                  "colorbar": {"title": {"text": "z"}, "thickness": 12}}
    return {"type": "scatter3d", **_xyz(xyz), "mode": "markers", "marker": {"size": 2, **marker}, "name": label}


def _mesh_trace(path: pathlib.Path, label: str) -> dict:
    import trimesh

    from ..io.geometry import read_mesh

    mesh = read_mesh(path)
    if len(mesh.faces) > MAX_FACES:
        label = f"{label} (decimated from {len(mesh.faces):,} faces)"
        mesh = _decimated(mesh)
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    colors = {}
    if isinstance(mesh.visual, trimesh.visual.ColorVisuals) and mesh.visual.kind == "vertex":
        colors["vertexcolor"] = _css_colors(np.asarray(mesh.visual.vertex_colors))
    elif isinstance(mesh.visual, trimesh.visual.ColorVisuals) and mesh.visual.kind == "face":
        colors["facecolor"] = _css_colors(np.asarray(mesh.visual.face_colors))
    else:
        colors["color"] = "lightgray"
    return {"type": "mesh3d", **_xyz(vertices), "i": _typed(faces[:, 0], "i4"), "j": _typed(faces[:, 1], "i4"),
            "k": _typed(faces[:, 2], "i4"), "name": label, "showlegend": True,
            "lighting": {"ambient": 0.5, "diffuse": 0.8, "specular": 0.1}, **colors}


def _decimated(mesh):
    import open3d as o3d
    import trimesh

    full = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, dtype=np.float64)),
                                     o3d.utility.Vector3iVector(np.asarray(mesh.faces, dtype=np.int32)))
    if mesh.visual.kind == "vertex":
        full.vertex_colors = o3d.utility.Vector3dVector(np.asarray(mesh.visual.vertex_colors)[:, :3] / 255.0)
    small = full.simplify_quadric_decimation(MAX_FACES)
    colors = np.asarray(small.vertex_colors) if small.has_vertex_colors() else None
    return trimesh.Trimesh(np.asarray(small.vertices), np.asarray(small.triangles), vertex_colors=colors,
                           process=False)


def _line_traces(path: pathlib.Path, label: str) -> list[dict]:
    """One trace per edge colour (plotly colours a 3D line per trace)."""
    from ..io.geometry import read_line_set

    points, edges, colors = read_line_set(path)
    colors = np.zeros((len(edges), 3)) if colors is None else colors
    # Few distinct colours (curve classes, camera frustums) keep the page small; quantise continuous ones.
    levels = np.round(colors * 255).astype(int)
    if len(np.unique(levels, axis=0)) > 32:
        levels = np.round(colors * 3).astype(int) * 85
    traces = []
    for group, level in enumerate(np.unique(levels, axis=0)):
        chosen = edges[(levels == level).all(axis=1)]
        # Segments separated by NaN rows draw as one polyline trace without joining the segments.
        xyz = np.full((len(chosen) * 3, 3), np.nan)
        xyz[0::3], xyz[1::3] = points[chosen[:, 0]], points[chosen[:, 1]]
        r, g, b = level
        traces.append({"type": "scatter3d", **_xyz(xyz), "mode": "lines",
                       "connectgaps": False, "line": {"color": f"rgb({r},{g},{b})", "width": 4}, "name": label,
                       "legendgroup": label, "showlegend": group == 0})
    return traces


def traces_of(path: pathlib.Path, label: str) -> list[dict]:
    kind = kind_of(path)
    if kind == "mesh":
        return [_mesh_trace(path, label)]
    if kind == "lines":
        return _line_traces(path, label)
    return [_points_trace(path, label)]


def scene_html(scene: Scene, run_path: pathlib.Path) -> str:
    """A plotly ``<div>`` (without plotly.js itself) drawing every file of the scene in one 3D view."""
    import plotly.io

    # Plain dicts, not validated graph objects: plotly validates every per-point colour string one by one (seconds).
    traces = [trace for path in scene.files for trace in traces_of(path, path.relative_to(run_path).as_posix())]
    layout = {"height": VIEW_HEIGHT_PX, "margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "scene": {"aspectmode": "data"},
              "legend": {"x": 0, "y": 1}, "title": {"text": scene.name, "font": {"size": 13}}}
    return plotly.io.to_html({"data": traces, "layout": layout}, validate=False, full_html=False,
                             include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def plotly_js() -> str:
    """plotly.js as one inline ``<script>``: the page draws its 3D views with no network."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'
