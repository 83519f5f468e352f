"""Whole-model prediction: scan from n views (or take given scans / a point cloud), predict per view, fuse; the
whole-model evaluation on held-out shape families (and fandisk) against the classical baselines."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from shared_utils.errors import InputError, check_finite, check_shape
from shared_utils.io import read_mesh, save_json, write_point_cloud
from shared_utils.metrics import chamfer_distance

from def_sharp.config import DEFConfig
from def_sharp.curves import extract_curves, sample_polylines, write_curves
from def_sharp.data.patches import normalise_depth
from def_sharp.data.scanning import OrthoCamera, add_depth_noise, camera_looking_along, fibonacci_directions, scan
from def_sharp.fusion import FUSION_RULES, ViewPrediction, fuse_points, fuse_views
from def_sharp.geometry.distances import truncated_feature_distance
from def_sharp.geometry.features import sharp_feature_curves
from def_sharp.geometry.shapes import HELD_OUT_KINDS, SharpShape, make_shape, shape_from_mesh, training_scale_factor
from def_sharp.metrics import point_metrics
from def_sharp.visualize import curves_picture, distance_colours, views_picture


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
    """Per-view network predictions on every view's range image."""
    return [ViewPrediction(image.camera, image.depth, image.mask,
                           predict_range_image(module, image.depth, image.mask, cfg.predict.tile_stride,
                                               cfg.predict.batch_size))
            for image in images]


def fuse(views: list[ViewPrediction], cfg: DEFConfig, method: str | None = None) -> list[np.ndarray]:
    return fuse_views(views, cfg.predict, method)


def scan_mesh_views(mesh: trimesh.Trimesh, cfg: DEFConfig, rng: np.random.Generator):
    """Range images of a mesh from cfg.predict.n_views directions, plus the raw scans (for labels)."""
    center = mesh.bounds.mean(0)
    radius = float(np.linalg.norm(mesh.vertices - center, axis=1).max())
    cameras = view_cameras(center, radius, cfg.predict.n_views, cfg.data.scan.pixel_size, cfg.predict.image_size)
    scans = [scan(mesh, camera) for camera in cameras]
    images = [RangeImage(camera, add_depth_noise(s, cfg.predict.noise_sigma, rng), s.mask)
              for camera, s in zip(cameras, scans, strict=False)]
    return images, scans


def exact_labels(shape: SharpShape, scans: list, truncation: float) -> list[np.ndarray]:
    """(H, W) exact truncated distance labels of every scan (truncation off the surface)."""
    labels = []
    for result in scans:
        label = np.full(result.mask.shape, float(truncation))
        label[result.mask] = truncated_feature_distance(result.points[result.mask], result.face_index[result.mask],
                                                        shape.curves, truncation)
        labels.append(label)
    return labels


def held_out_shapes(cfg: DEFConfig) -> list[SharpShape]:
    """Instances of the families never used in training, plus the configured meshes made elsewhere (fandisk); a
    configured mesh that is absent is skipped with a message saying so."""
    shapes = [make_shape(kind, cfg.seed * 1000 + instance, sections=cfg.data.shapes.sections,
                         sharp_angle_deg=cfg.data.shapes.sharp_angle_deg, extent=cfg.data.shapes.extent,
                         curve_length_quantile=cfg.data.shapes.curve_length_quantile)
              for kind in sorted(HELD_OUT_KINDS) for instance in range(cfg.eval.whole_model_shapes)]
    workspace = Path(__file__).resolve().parents[3]
    for configured in cfg.eval.extra_meshes:
        path = workspace / configured
        if not path.exists():
            print(f"note: whole-model evaluation skips '{configured}' (not found at {path})", file=sys.stderr)
            continue
        shapes.append(shape_from_mesh(path.stem, read_mesh(path), cfg.data.shapes))
    return shapes


def false_positive_rate_at_recall(prediction: np.ndarray, truth: np.ndarray, threshold: float,
                                  recall: float) -> float:
    """Lowest FPR at which the score -prediction reaches the given recall of the points with truth < threshold."""
    positive = truth < threshold
    if not positive.any() or positive.all():
        return float("nan")
    order = np.sort(prediction[positive])
    cut = order[min(len(order) - 1, int(np.ceil(recall * len(order))) - 1)]
    return float((prediction[~positive] <= cut).mean())


def fit_classical_baselines(cfg: DEFConfig) -> dict:
    """Both classical baselines, calibrated on the same training patches as the patch-level PCA baseline."""
    from def_sharp.baseline import CovarianceBaseline, NormalDiscontinuityBaseline
    from def_sharp.data.defsim import ensure_dataset, load_split

    train = load_split(ensure_dataset(cfg.data), "train")
    pick = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.baseline.calibration_patches]
    depth, mask, distance = train.depth[pick], train.mask[pick], train.distance[pick]
    return {name: kind(cfg.baseline, cfg.data.scan.pixel_size).fit(depth, mask, distance)
            for name, kind in (("PCA", CovarianceBaseline), ("normal discontinuity", NormalDiscontinuityBaseline))}


def evaluate_whole_models(module, cfg: DEFConfig, picture_dir: Path, baselines: dict | None = None) -> dict:
    """Held-out shape families (never in training) and fandisk scanned from all views: DEF per view, DEF fused with
    every rule, and the classical baselines (name -> fitted baseline; both fitted here when None) on the merged
    points, against exact labels, at up to cfg.eval.whole_model_points scanned points per shape; a labelled picture
    of the views and one of the curves per shape."""
    rng = np.random.default_rng(cfg.seed)
    threshold, truncation = cfg.eval.threshold, cfg.data.scan.truncation
    baselines = fit_classical_baselines(cfg) if baselines is None else baselines
    per_shape, pooled = {}, {}
    picture_dir = Path(picture_dir)
    for shape in held_out_shapes(cfg):
        images, scans = scan_mesh_views(shape.mesh, cfg, rng)
        labels = exact_labels(shape, scans, truncation)
        truth_all = np.concatenate([label[s.mask] for label, s in zip(labels, scans, strict=True)])
        views = predict_views(module, images, cfg)
        points_all = np.concatenate([view.points for view in views])
        pick = np.sort(rng.permutation(len(points_all))[: cfg.eval.whole_model_points])
        points, truth = points_all[pick], truth_all[pick]
        estimates = {"DEF single view": np.concatenate([view.distances for view in views])[pick]}
        for rule in FUSION_RULES:
            estimates[f"DEF {rule}"] = fuse_points(views, points, cfg.predict, rule)
        for name, baseline in baselines.items():
            estimates[name] = baseline_on_points(baseline, points_all, cfg.data.scan.pixel_size)[pick]
        metrics = {}
        for name, values in estimates.items():
            values = np.where(np.isnan(values), truncation, values)
            estimates[name] = values
            metrics[name] = point_metrics(values, truth, threshold)
            metrics[name]["fpr_at_recall_0.8"] = false_positive_rate_at_recall(values, truth, threshold, 0.8)
            pooled.setdefault(name, ([], []))[0].append(values)
            pooled[name][1].append(truth)
        fused = estimates[f"DEF {cfg.predict.fusion}"]
        curves = extract_curves(points, fused, threshold, cfg.curves)
        true_lines = shape.curves.polylines()
        metrics["curves"] = curve_metrics(curves, true_lines, threshold)
        metrics["n_points"] = len(truth)
        per_shape[shape.name] = metrics
        write_curves(picture_dir / f"whole_model_{shape.name}_curves.json", curves)
        curves_picture(picture_dir / f"whole_model_{shape.name}_curves.png", points,
                       [c.samples for c in curves], true_lines, title=f"Feature curves: {shape.name}")
        shown = views[: cfg.eval.whole_model_picture_views]
        shown_points = np.concatenate([view.points for view in shown])
        fields = {f"DEF ({cfg.predict.fusion} fusion)": np.concatenate(fuse(shown, cfg))}
        fields.update({name: baseline_on_points(b, shown_points, cfg.data.scan.pixel_size)
                       for name, b in baselines.items()})
        fields["truth"] = np.concatenate([label[s.mask] for label, s in zip(labels, scans[: len(shown)],
                                                                            strict=False)])
        views_picture(picture_dir / f"whole_model_{shape.name}_views.png", [view.mask for view in shown], fields,
                      truncation, threshold, f"Held-out whole model '{shape.name}': distance to sharp features")
    overall = {}
    for name, (values, truths) in pooled.items():
        values, truths = np.concatenate(values), np.concatenate(truths)
        overall[name] = point_metrics(values, truths, threshold)
        overall[name]["fpr_at_recall_0.8"] = false_positive_rate_at_recall(values, truths, threshold, 0.8)
    return {"n_views": cfg.predict.n_views, "fusion_default": cfg.predict.fusion,
            "n_points": int(sum(m["n_points"] for m in per_shape.values())),
            "shapes": per_shape, "pooled": overall}


def whole_model_markdown(whole: dict) -> str:
    """Tables of the whole-model evaluation: every method on every shape, and pooled."""
    from shared_utils.io import markdown_table

    methods = list(whole["pooled"])
    header = ["Method", "Recall %", "FPR %", "AP", "FPR % at recall 0.8"]

    def rows(metrics: dict) -> list[list[str]]:
        return [[name, f"{100 * metrics[name]['recall']:.1f}", f"{100 * metrics[name]['fpr']:.2f}",
                 f"{metrics[name]['average_precision']:.3f}", f"{100 * metrics[name]['fpr_at_recall_0.8']:.2f}"]
                for name in methods]

    lines = ["## Whole models: held-out shape families and fandisk", "",
             f"Every shape scanned from {whole['n_views']} views; DEF predicted per view and fused (default rule: "
             f"`{whole['fusion_default']}`); the classical baselines scored on the merged points. Exact labels, "
             "sharp = distance < r; AP ranks points by -distance. Pooled over all shapes:", "",
             markdown_table(header, rows(whole["pooled"])), ""]
    for name, metrics in whole["shapes"].items():
        curves = metrics["curves"]
        lines += [f"### {name} ({metrics['n_points']} points)", "", markdown_table(header, rows(metrics)), "",
                  f"Curves from the default fusion: {curves['n_curves']} curves, length {curves['length']:.2f} "
                  f"(true {curves['true_length']:.2f}), coverage {100 * curves['coverage']:.1f} % of the true curves "
                  f"within r, {100 * curves['precision']:.1f} % of curve samples within 2 r of a true curve.", ""]
    return "\n".join(lines)


def baseline_on_points(baseline, points: np.ndarray, spacing: float) -> np.ndarray:
    """A classical baseline on a whole model's merged points: scored on one point per voxel of the pixel size (so
    that overlapping views do not crowd the neighbourhoods), carried to every point by its nearest scored point."""
    from scipy.spatial import cKDTree

    from def_sharp.curves import voxel_subsample

    thinned = points[voxel_subsample(points, spacing)]
    values = baseline.predict_points(thinned)
    return values[cKDTree(thinned).query(points)[1]]


def curve_metrics(curves: list, true_lines: list[np.ndarray], r: float) -> dict:
    """Coverage (share of true-curve samples within r of an extracted curve), precision (share of curve samples
    within 2 r of a true curve), total lengths and the symmetric Chamfer distance."""
    from scipy.spatial import cKDTree

    truth = sample_polylines(true_lines, r / 2)
    true_length = float(sum(np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in true_lines))
    result = {"n_curves": len(curves), "true_length": true_length,
              "length": float(sum(c.length for c in curves))}
    if not curves or len(truth) == 0:
        return {**result, "coverage": 0.0 if len(truth) else float("nan"), "precision": float("nan"),
                "chamfer": None}
    samples = np.concatenate([c.samples for c in curves])
    dense = sample_polylines([c.samples for c in curves], r / 2)
    result["coverage"] = float((cKDTree(dense).query(truth)[0] < r).mean())
    result["precision"] = float((cKDTree(truth).query(samples)[0] < 2 * r).mean())
    result["chamfer"] = float(chamfer_distance(samples, truth))
    return result


def splat_point_cloud(points: np.ndarray, camera: OrthoCamera, front_tolerance: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthographic z-buffer of a point cloud: (depth (H, W), mask, pixel index (N,) of every point, -1 outside).
    A pixel's depth is the mean depth of its points within `front_tolerance` of its nearest one, which for a dense
    cloud approximates the surface depth at the pixel centre rather than at a random point in the pixel."""
    uv, depth = camera.to_pixels(points)
    cols, rows = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < camera.width) & (rows >= 0) & (rows < camera.height)
    flat = np.where(inside, rows * camera.width + cols, -1)
    n_pixels = camera.height * camera.width
    nearest = np.full(n_pixels, np.inf)
    np.minimum.at(nearest, flat[inside], depth[inside])
    front = inside.copy()
    front[inside] = depth[inside] <= nearest[flat[inside]] + front_tolerance
    total, count = np.zeros(n_pixels), np.zeros(n_pixels)
    np.add.at(total, flat[front], depth[front])
    np.add.at(count, flat[front], 1.0)
    mask = count > 0
    shape = (camera.height, camera.width)
    return np.where(mask, total / np.maximum(count, 1.0), 0.0).reshape(shape), mask.reshape(shape), flat


# A random sample leaves exp(-n cos(incidence)) of a view's pixels empty; a 100k-point cloud of a box (3.6 points per
# pixel) kept 0.12 recall where 1M points (35 per pixel) kept 0.31 with the same network.
POINTS_PER_PIXEL = 10


def point_spacing(points: np.ndarray, sample: int = 20_000, k: int = 8) -> float:
    """Surface area per point, as a length: sqrt(pi r_k^2 / k) with r_k the distance to the k-th nearest neighbour
    (median over a fixed subsample). For a random sample the nearest-neighbour distance alone is half of this."""
    from scipy.spatial import cKDTree

    probe = points[:: max(1, len(points) // sample)]
    k = min(k, len(points) - 1)
    if k < 1:
        return float("inf")
    radius = np.median(cKDTree(points).query(probe, k=k + 1)[0][:, k])
    return float(radius * np.sqrt(np.pi / k))


def check_density(points: np.ndarray, pixel_size: float, units_per_shape_unit: float) -> str | None:
    """Warn when a cloud has fewer than POINTS_PER_PIXEL points per pixel area (its z-buffer views get holes, and
    the network sees them as background); refuse below one point per pixel. The message names the spacing and the
    number of points the surface would need."""
    spacing = point_spacing(points)
    target = pixel_size / np.sqrt(POINTS_PER_PIXEL)
    if spacing <= target:
        return None
    needed = int(np.ceil(len(points) * (spacing / target) ** 2))
    message = (f"point cloud is too sparse for the training pixel size: {spacing * units_per_shape_unit:.4g} "
               f"(input units) of surface per point, as a length, for a pixel size of "
               f"{pixel_size * units_per_shape_unit:.4g}; about {needed} points (now {len(points)}) would give "
               f"{POINTS_PER_PIXEL} points per pixel")
    if spacing > pixel_size:
        raise InputError(message)
    return message


def predict_point_cloud(module, points: np.ndarray, cfg: DEFConfig) -> np.ndarray:
    """Per-point distances of a point cloud in the training scale: orthographic z-buffer views, per-view prediction,
    fusion of the views that see each point (the same re-projection and rule as for meshes). Points no view sees
    get the truncation distance."""
    check_shape(points, (None, 3), "point cloud")
    check_finite(points, "point cloud")
    if len(points) == 0:
        raise InputError("point cloud is empty (0 points)")
    pixel_size = cfg.data.scan.pixel_size
    center = points.mean(0)
    radius = float(np.linalg.norm(points - center, axis=1).max())
    cameras = view_cameras(center, radius, cfg.predict.n_views, pixel_size, cfg.predict.image_size)
    images = []
    for camera in cameras:
        depth, mask, _ = splat_point_cloud(points, camera, 2 * pixel_size)
        images.append(RangeImage(camera, depth, mask))
    views = predict_views(module, images, cfg)
    fused = fuse_points(views, points, cfg.predict)
    return np.where(np.isnan(fused), cfg.data.scan.truncation, fused)


@dataclass
class InputScale:
    """How an input was brought to the training scale: x_train = (x - center) * factor."""

    center: np.ndarray
    factor: float
    how: str

    def describe(self) -> str:
        return (f"rescaled by {self.factor:.6g} ({self.how}); distances are reported in the input's units "
                f"(training-scale distance / {self.factor:.6g})")


def mesh_scale(mesh: trimesh.Trimesh, cfg: DEFConfig, scale: float | None) -> InputScale:
    center = mesh.bounds.mean(axis=0)
    if scale is not None:
        return InputScale(center, scale, "--scale")
    curves = sharp_feature_curves(mesh, cfg.data.shapes.sharp_angle_deg, closed=False)
    factor = training_scale_factor(mesh, curves, cfg.data.shapes)
    shapes = cfg.data.shapes
    how = (f"DEF-Sim normalisation: largest extent -> {shapes.extent:g}, then the {shapes.curve_length_quantile:.0%} "
           f"quantile of its {len(curves.polylines())} sharp-curve lengths -> 1" if len(curves.segments)
           else "no sharp curve found: largest extent -> the smooth shapes' extent")
    return InputScale(center, factor, how)


def cloud_scale(points: np.ndarray, cfg: DEFConfig, scale: float | None) -> InputScale:
    center = points.mean(axis=0)
    if scale is not None:
        return InputScale(center, scale, "--scale")
    # Without faces there are no curve lengths to normalise by: the largest extent goes to the typical largest
    # extent of the training shapes, a guess that --scale replaces.
    extent = float((points.max(0) - points.min(0)).max())
    return InputScale(center, cfg.predict.cloud_extent / extent,
                      f"point cloud: largest extent -> {cfg.predict.cloud_extent:g}, the training shapes' typical "
                      "extent; pass --scale when the units are known")


def predict_file(run_dir: Path, input_path: Path, output: Path, cfg: DEFConfig, scale: float | None = None
                 ) -> np.ndarray:
    """`def-sharp predict`: mesh (closed or open, any units), point cloud (whole or partial) or range scans ->
    coloured PLY + per-point distances (.npy, input units) + a JSON saying how the input was scaled."""
    from def_sharp.evaluate import load_module
    from def_sharp.inputs import check_predict_input, read_points, read_range_scans

    input_path = Path(input_path)
    kind = check_predict_input(input_path)
    if scale is not None and not scale > 0:
        raise InputError(f"--scale must be positive, got {scale}")
    module = load_module(run_dir)
    notes = []
    if kind == "scans":
        # Range scans carry their own pixel size and cameras: they are used as given, in their own units.
        scans = read_range_scans(input_path)
        images = [RangeImage(OrthoCamera(pose, scans.pixel_size, d.shape[0], d.shape[1]), d, d > 0)
                  for d, pose in zip(scans.depth, scans.c2w, strict=True)]
        views = predict_views(module, images, cfg)
        points = np.concatenate([view.points for view in views])
        distances = np.concatenate(fuse(views, cfg))
        how = InputScale(np.zeros(3), 1.0, "range scans are taken in their own units")
    elif kind == "mesh":
        mesh = read_mesh(input_path)
        mesh.merge_vertices()  # STL stores every triangle's corners separately; merged, edges are shared
        how = mesh_scale(mesh, cfg, scale)
        if not mesh.is_watertight:
            notes.append("the mesh is open: only the surface it has is scanned")
        scaled = mesh.copy()
        scaled.apply_translation(-how.center)
        scaled.apply_scale(how.factor)
        images, _ = scan_mesh_views(scaled, cfg, np.random.default_rng(cfg.seed))
        views = predict_views(module, images, cfg)
        points = np.concatenate([view.points for view in views]) / how.factor + how.center
        distances = np.concatenate(fuse(views, cfg)) / how.factor
    else:
        cloud = read_points(input_path).astype(np.float64)
        how = cloud_scale(cloud, cfg, scale)
        scaled = (cloud - how.center) * how.factor
        warning = check_density(scaled, cfg.data.scan.pixel_size, 1.0 / how.factor)
        if warning:
            notes.append(warning)
        points = cloud
        distances = predict_point_cloud(module, scaled, cfg) / how.factor
    for note in [how.describe(), *notes]:
        print(("warning: " if "too sparse" in note else "note: ") + note, file=sys.stderr)
    write_point_cloud(output, points, colors=distance_colours(distances * how.factor))
    np.save(Path(output).with_suffix(".distances.npy"), distances.astype(np.float32))
    save_json({"n_points": len(points), "scale_factor": how.factor, "scaling": how.describe(), "notes": notes,
               "threshold_input_units": cfg.eval.threshold / how.factor,
               "n_sharp": int((distances * how.factor < cfg.eval.threshold).sum())},
              Path(output).with_suffix(".json"))
    return distances
