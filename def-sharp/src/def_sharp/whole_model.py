"""Whole-model prediction: scan from n views (or take given scans / a point cloud), predict per view, fuse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from shared_utils.errors import InputError, check_finite, check_shape
from shared_utils.io import image_grid, read_mesh, read_point_cloud, save_json, write_image, write_point_cloud
from shared_utils.metrics import chamfer_distance

from def_sharp.config import DEFConfig
from def_sharp.curves import extract_curves, sample_polylines, write_curves
from def_sharp.data.defsim import build_shape, split_catalogue
from def_sharp.data.patches import normalise_depth
from def_sharp.data.scanning import OrthoCamera, add_depth_noise, camera_looking_along, fibonacci_directions, scan
from def_sharp.fusion import ViewPrediction, combine, fuse_views
from def_sharp.geometry.distances import truncated_feature_distance
from def_sharp.metrics import point_metrics
from def_sharp.visualize import curves_picture, distance_colours

MESH_SUFFIXES = {".obj", ".stl", ".off", ".glb", ".gltf"}


@dataclass
class RangeImage:
    camera: OrthoCamera
    depth: np.ndarray  # (H, W)
    mask: np.ndarray  # (H, W) bool


def view_cameras(center: np.ndarray, radius: float, n_views: int, pixel_size: float,
                 image_size: int | None = None) -> list[OrthoCamera]:
    """n views from near-uniform directions, image planes large enough to see the whole bounding sphere."""
    size = image_size or int(np.ceil(2 * radius / pixel_size)) + 4
    return [camera_looking_along(direction, center, radius + 1.0, pixel_size, size)
            for direction in fibonacci_directions(n_views)]


@torch.no_grad()
def predict_range_image(module, depth: np.ndarray, mask: np.ndarray, stride: int, batch_size: int) -> np.ndarray:
    """(H, W) distances from overlapping patch-size tiles (each normalised like a training patch), averaged."""
    tile = module.cfg.data.scan.patch_size
    height, width = depth.shape
    pad_h, pad_w = max(0, tile - height), max(0, tile - width)
    depth = np.pad(depth, ((0, pad_h), (0, pad_w)))
    mask = np.pad(mask, ((0, pad_h), (0, pad_w)))

    def starts(length: int) -> list[int]:
        positions = list(range(0, length - tile + 1, stride))
        return positions if positions[-1] == length - tile else [*positions, length - tile]

    corners = [(r, c) for r in starts(depth.shape[0]) for c in starts(depth.shape[1])
               if mask[r : r + tile, c : c + tile].any()]
    total = np.zeros(depth.shape)
    weight = np.zeros(depth.shape)
    device = next(module.parameters()).device
    for first in range(0, len(corners), batch_size):
        batch = corners[first : first + batch_size]
        tiles_depth = np.stack([depth[r : r + tile, c : c + tile] for r, c in batch])
        tiles_mask = np.stack([mask[r : r + tile, c : c + tile] for r, c in batch])
        inputs = normalise_depth(tiles_depth, tiles_mask, module.input_scale, module.cfg.data.background_value)
        output = module.predict_distance(torch.from_numpy(inputs)[:, None].to(device)).cpu().numpy()
        for (r, c), values in zip(batch, output, strict=False):
            total[r : r + tile, c : c + tile] += values
            weight[r : r + tile, c : c + tile] += 1.0
    prediction = total / np.maximum(weight, 1.0)
    return prediction[:height, :width]


def predict_views(module, images: list[RangeImage], cfg: DEFConfig) -> list[ViewPrediction]:
    """Per-view network predictions at every view's surface pixels."""
    views = []
    for image in images:
        prediction = predict_range_image(module, image.depth, image.mask, cfg.predict.tile_stride,
                                         cfg.predict.batch_size)
        views.append(ViewPrediction(image.camera, image.camera.unproject(image.depth)[image.mask],
                                    prediction[image.mask]))
    return views


def fuse(views: list[ViewPrediction], cfg: DEFConfig, method: str | None = None) -> list[np.ndarray]:
    p = cfg.predict
    return fuse_views(views, method or p.fusion, tuple(p.robust_quantiles), p.neighbours, p.radius_factor,
                      p.depth_tolerance_factor, p.chunk_size)


def scan_mesh_views(mesh: trimesh.Trimesh, cfg: DEFConfig, rng: np.random.Generator):
    """Range images of a mesh from cfg.predict.n_views directions, plus the raw scans (for labels)."""
    center = mesh.bounds.mean(0)
    radius = float(np.linalg.norm(mesh.vertices - center, axis=1).max())
    cameras = view_cameras(center, radius, cfg.predict.n_views, cfg.data.scan.pixel_size, cfg.predict.image_size)
    scans = [scan(mesh, camera) for camera in cameras]
    images = [RangeImage(camera, add_depth_noise(s, cfg.predict.noise_sigma, rng), s.mask)
              for camera, s in zip(cameras, scans, strict=False)]
    return images, scans


def evaluate_whole_models(module, cfg: DEFConfig, picture_dir: Path) -> dict:
    """Held-out shapes scanned from all views: single-view vs fused predictions against exact labels."""
    rng = np.random.default_rng(cfg.seed)
    catalogue = split_catalogue(cfg.data, "test")[: cfg.eval.whole_model_shapes]
    collected: dict[str, list[np.ndarray]] = {"single view": [], "min": [], "robust_min": []}
    truth_all, chamfers = [], []
    n_points = 0
    for shape_number, (kind, seed) in enumerate(catalogue):
        shape = build_shape(cfg.data, kind, seed)
        images, scans = scan_mesh_views(shape.mesh, cfg, rng)
        truth = np.concatenate([
            truncated_feature_distance(s.points[s.mask], s.face_index[s.mask], shape.curves, cfg.data.scan.truncation)
            for s in scans
        ])
        views = predict_views(module, images, cfg)
        collected["single view"].append(np.concatenate([view.distances for view in views]))
        for method in ("min", "robust_min"):
            collected[method].append(np.concatenate(fuse(views, cfg, method)))
        truth_all.append(truth)
        n_points += len(truth)
        points = np.concatenate([view.points for view in views])
        fused_min = collected["min"][-1]
        curves = extract_curves(points, fused_min, cfg.eval.threshold, cfg.curves)
        true_lines = shape.curves.polylines()
        chamfers.append(curve_chamfer(curves, true_lines, cfg.curves.subsample_radius / 4))
        if shape_number == 0:
            write_curves(picture_dir / f"whole_model_{shape.name}_curves.json", curves)
            curves_picture(picture_dir / f"whole_model_{shape.name}_curves.png", points,
                           [c.samples for c in curves], true_lines)
            write_point_cloud(picture_dir / f"whole_model_{shape.name}_fused.ply", points,
                              colors=distance_colours(fused_min))
            write_point_cloud(picture_dir / f"whole_model_{shape.name}_truth.ply", points,
                              colors=distance_colours(truth))
            render_views(picture_dir / f"whole_model_{shape.name}_views.png", images[:4],
                         [fused_min, truth], [len(view.points) for view in views])
    truth = np.concatenate(truth_all)
    return {
        "n_shapes": len(catalogue),
        "n_views": cfg.predict.n_views,
        "n_points": n_points,
        "fusion": {name: point_metrics(np.concatenate(values), truth, cfg.eval.threshold)
                   for name, values in collected.items()},
        "curve_chamfer": [None if c is None else float(c) for c in chamfers],
    }


def curve_chamfer(curves: list, true_lines: list[np.ndarray], spacing: float) -> float | None:
    """Symmetric Chamfer distance between extracted and true curves (None when either side is empty)."""
    truth = sample_polylines(true_lines, spacing)
    if not curves or len(truth) == 0:
        return None
    return chamfer_distance(np.concatenate([c.samples for c in curves]), truth)


def render_views(path: Path, images: list[RangeImage], fields: list[np.ndarray], counts: list[int]) -> None:
    """Rows: views; columns: each field (fused prediction, truth) painted on the view's pixels."""
    offsets = np.concatenate([[0], np.cumsum(counts)])
    tiles = []
    for view_index, image in enumerate(images):
        for field in fields:
            canvas = np.full((*image.depth.shape, 3), 0.5)
            canvas[image.mask] = distance_colours(field[offsets[view_index] : offsets[view_index + 1]])
            tiles.append(canvas)
    write_image(path, image_grid(tiles, ncols=len(fields)))


def splat_point_cloud(points: np.ndarray, camera: OrthoCamera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthographic z-buffer of a point cloud: (depth (H, W), mask, pixel index (N,) of every point)."""
    uv, depth = camera.to_pixels(points)
    cols, rows = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < camera.width) & (rows >= 0) & (rows < camera.height)
    flat = np.where(inside, rows * camera.width + cols, -1)
    zbuffer = np.full(camera.height * camera.width, np.inf)
    np.minimum.at(zbuffer, flat[inside], depth[inside])
    mask = np.isfinite(zbuffer)
    return np.where(mask, zbuffer, 0.0).reshape(camera.height, camera.width), mask.reshape(camera.height,
                                                                                            camera.width), flat


def predict_point_cloud(module, points: np.ndarray, cfg: DEFConfig) -> np.ndarray:
    """Per-point distances of a point cloud: orthographic z-buffer views, per-view prediction, fusion over the
    views that see each point (min, or robust min)."""
    check_shape(points, (None, 3), "point cloud")
    check_finite(points, "point cloud")
    if len(points) == 0:
        raise InputError("point cloud is empty (0 points)")
    center = points.mean(0)
    radius = float(np.linalg.norm(points - center, axis=1).max())
    cameras = view_cameras(center, radius, cfg.predict.n_views, cfg.data.scan.pixel_size, cfg.predict.image_size)
    estimates = np.full((len(points), len(cameras)), np.nan)
    for view_index, camera in enumerate(cameras):
        depth, mask, flat = splat_point_cloud(points, camera)
        prediction = predict_range_image(module, depth, mask, cfg.predict.tile_stride, cfg.predict.batch_size)
        _, point_depth = camera.to_pixels(points)
        seen = flat >= 0
        visible = seen.copy()
        visible[seen] = np.abs(point_depth[seen] - depth.reshape(-1)[flat[seen]]) < 3 * cfg.data.scan.pixel_size
        estimates[visible, view_index] = prediction.reshape(-1)[flat[visible]]
    fused = combine(estimates, cfg.predict.fusion, tuple(cfg.predict.robust_quantiles))
    return np.where(np.isnan(fused), cfg.data.scan.truncation, fused)


def read_scans(path: Path) -> list[RangeImage]:
    """Range scans from .npz: depth (V, H, W) (0 = no hit), c2w (V, 4, 4) orthographic cameras, pixel_size."""
    try:
        with np.load(path) as data:
            depth, c2w, pixel_size = data["depth"], data["c2w"], float(data["pixel_size"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"range scans '{path}' are unreadable or lack depth/c2w/pixel_size ({exc})") from exc
    check_shape(depth, (None, None, None), f"depth in '{path}'")
    check_shape(c2w, (len(depth), 4, 4), f"c2w in '{path}'")
    check_finite(depth, f"depth in '{path}'")
    return [RangeImage(OrthoCamera(pose, pixel_size, d.shape[0], d.shape[1]), d, d > 0)
            for d, pose in zip(depth, c2w, strict=True)]


def predict_file(run_dir: Path, input_path: Path, output: Path, cfg: DEFConfig) -> np.ndarray:
    """`def-sharp predict`: mesh, point cloud or range scans -> coloured PLY + per-point distances (.npy)."""
    from def_sharp.evaluate import load_module

    module = load_module(run_dir)
    input_path = Path(input_path)
    if not input_path.exists():
        raise InputError(f"input '{input_path}' does not exist")
    suffix = input_path.suffix.lower()
    if suffix == ".npz":
        views = predict_views(module, read_scans(input_path), cfg)
        points = np.concatenate([view.points for view in views])
        distances = np.concatenate(fuse(views, cfg))
    else:
        mesh = read_mesh(input_path) if suffix in MESH_SUFFIXES or _ply_has_faces(input_path) else None
        if mesh is not None:
            if not mesh.is_watertight:
                raise InputError(f"mesh '{input_path}' is not watertight; scan simulation needs a closed surface")
            images, _ = scan_mesh_views(mesh, cfg, np.random.default_rng(cfg.seed))
            views = predict_views(module, images, cfg)
            points = np.concatenate([view.points for view in views])
            distances = np.concatenate(fuse(views, cfg))
        else:
            points = read_point_cloud(input_path).points.astype(np.float64)
            distances = predict_point_cloud(module, points, cfg)
    write_point_cloud(output, points, colors=distance_colours(distances))
    np.save(Path(output).with_suffix(".distances.npy"), distances.astype(np.float32))
    save_json({"n_points": len(points), "threshold": cfg.eval.threshold,
               "n_sharp": int((distances < cfg.eval.threshold).sum())}, Path(output).with_suffix(".json"))
    return distances


def _ply_has_faces(path: Path) -> bool:
    if path.suffix.lower() != ".ply":
        return False
    with open(path, "rb") as handle:
        header = handle.read(2048).split(b"end_header")[0]
    return b"element face" in header and b"element face 0" not in header
