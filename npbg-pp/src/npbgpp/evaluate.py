"""Evaluation on hold-out frames of hold-out scenes: NPBG++ (no optimisation), NPBG++ ft, the per-scene NPBG
baseline and the mean-colour image; metrics.json, results.md, picture grids and an orbit video."""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from shared_utils.cameras import invert_pose, orbit_poses, project
from shared_utils.errors import InputError
from shared_utils.io import (
    atomic_write,
    load_checkpoint,
    markdown_table,
    save_json,
    write_line_set,
    write_point_cloud,
    write_video,
)
from shared_utils.metrics import LPIPS, lpips_unavailable_reason, psnr, ssim
from shared_utils.run import RunClock, RunDir, provenance, time_limit_message
from shared_utils.runtime import seed_everything

from npbgpp.config import NPBGPPConfig
from npbgpp.data.datasets import load_scenes, scene_names
from npbgpp.data.scene import SceneData
from npbgpp.finetune import build_scene, fit_scene
from npbgpp.lightning import render_views
from npbgpp.real_scene import evaluate_real_scene
from npbgpp.train import load_trained_model, model_path

log = logging.getLogger(__name__)

DETAILS_FILE = "eval_details.json"

# Thesis Table 3 (PSNR / SSIM / LPIPS), NPBG++ rows and the NPBG row, per data set.
THESIS_TABLE3 = {
    "NPBG++ (no per-scene optimisation)": {"NeRF-Synthetic": (26.06, 0.936, 0.071), "ScanNet": (23.11, 0.766, 0.502),
                                           "DTU": (23.23, 0.915, 0.154), "H3DS": (21.80, 0.818, 0.177)},
    "NPBG++ ft": {"NeRF-Synthetic": (28.67, 0.952, 0.050), "ScanNet": (25.27, 0.772, 0.448),
                  "DTU": (26.08, 0.928, 0.123), "H3DS": (24.91, 0.845, 0.137)},
    "NPBG++ ft-system": {"NeRF-Synthetic": (26.24, 0.940, 0.064), "ScanNet": (23.48, 0.768, 0.490),
                         "DTU": (24.05, 0.919, 0.147), "H3DS": (23.79, 0.836, 0.155)},
    "NPBG (per-scene optimisation)": {"NeRF-Synthetic": (28.62, 0.946, 0.058), "ScanNet": (25.09, 0.737, 0.459),
                                      "DTU": (26.00, 0.913, 0.125), "H3DS": (24.68, 0.827, 0.146)},
}


class ImageMetrics:
    """PSNR / SSIM / LPIPS over frames; LPIPS is None (with a reason) when its backbone weights are absent."""

    def __init__(self, crop_border: int, lpips_net: str) -> None:
        self.crop_border = crop_border
        self.lpips_reason = lpips_unavailable_reason(lpips_net)
        self.lpips = None if self.lpips_reason else LPIPS(lpips_net).eval()
        if self.lpips_reason:
            log.warning("LPIPS unavailable: %s", self.lpips_reason)

    @torch.no_grad()
    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict:
        predictions = predictions.clamp(0, 1).cpu()
        targets = targets.cpu()
        border = self.crop_border
        result = {
            "psnr": float(psnr(predictions, targets, crop_border=border).mean()),
            "ssim": float(ssim(predictions, targets, crop_border=border).mean()),
        }
        if self.lpips is not None:
            crop = (slice(None), slice(None), slice(border, -border or None), slice(border, -border or None))
            result["lpips"] = float(self.lpips(predictions[crop], targets[crop]).mean())
        else:
            result["lpips"] = None
        return result


def mean_colour_images(scene: SceneData, frames: torch.Tensor) -> torch.Tensor:
    """The constant image of the mean colour of the scene's input views."""
    colour = scene.images[scene.input_indices].mean(dim=(0, 2, 3))
    return colour.view(1, 3, 1, 1).expand(len(frames), 3, scene.height, scene.width).clone()


def _average(per_scene: list[dict]) -> dict:
    keys = per_scene[0].keys()
    out = {}
    for key in keys:
        values = [entry[key] for entry in per_scene]
        out[key] = None if any(v is None for v in values) else float(np.mean(values))
    return out


def time_to_reach(timeline: list[dict], target_psnr: float) -> float | None:
    for point in timeline:
        if point["psnr"] >= target_psnr:
            return point["seconds"]
    return None


def orbit_cameras(scene: SceneData, count: int, up) -> tuple[torch.Tensor, torch.Tensor]:
    """An orbit at the mean distance and elevation of the input cameras, around the cloud centre."""
    centers = scene.camera_centers()[scene.input_indices]
    target = scene.points.mean(0)
    up_vector = torch.nn.functional.normalize(torch.tensor(up, dtype=torch.float32), dim=0)
    offsets = centers - target
    radius = float(offsets.norm(dim=-1).mean())
    elevation = float(torch.rad2deg(torch.arcsin((offsets @ up_vector / offsets.norm(dim=-1)).clamp(-1, 1))).mean())
    c2w = orbit_poses(count, radius, elevation, target=tuple(target.tolist()), up=tuple(up_vector.tolist()))
    w2c = invert_pose(c2w.float())
    intrinsics = scene.intrinsics[scene.input_indices[0]].expand(count, 3, 3)
    return intrinsics, w2c


METHOD_LABELS = {"npbgpp": "NPBG++", "npbgpp_ft": "NPBG++ ft", "per_scene_baseline": "per-scene baseline"}
SUMMARY_PICTURE = "summary.png"


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    return image.clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def labelled_grid(path: Path, scene: SceneData, frames, renders: dict[str, torch.Tensor], count: int) -> None:
    """One row per hold-out frame; columns: target, each method, |error| of NPBG++ with its colour bar."""
    names = list(renders)
    rows = min(count, len(frames))
    columns = len(names) + 2
    figure = Figure(figsize=(1.9 * columns + 0.6, 1.9 * rows + 0.5))
    axes = figure.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        target = scene.images[frames[row]]
        error = (renders[names[0]][row].cpu() - target).abs().mean(0).numpy()
        tiles = [_to_hwc(target)] + [_to_hwc(renders[name][row]) for name in names]
        titles = ["target"] + [METHOD_LABELS[name] for name in names]
        for column, (tile, title) in enumerate(zip(tiles, titles, strict=True)):
            axes[row, column].imshow(tile)
            if row == 0:
                axes[row, column].set_title(title, fontsize=9)
        shown = axes[row, -1].imshow(error, cmap="magma", vmin=0.0, vmax=0.5)
        if row == 0:
            axes[row, -1].set_title(f"|error| {METHOD_LABELS[names[0]]}", fontsize=9)
        figure.colorbar(shown, ax=axes[row, -1], fraction=0.046, pad=0.04, label="mean abs. RGB error")
        axes[row, 0].set_ylabel(f"frame {int(frames[row])}", fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"scene {scene.name}: hold-out frames ({scene.height}x{scene.width})", fontsize=10)
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)


def write_pictures(run: RunDir, scene: SceneData, frames, renders: dict[str, torch.Tensor], count: int) -> str:
    """The labelled grid of one scene in ``pictures/`` with its caption; returns the picture's name."""
    name = f"{scene.name}_{scene.height}x{scene.width}_holdout_frames.png"
    labelled_grid(run.pictures / name, scene, frames, renders, count)
    methods = ", ".join(METHOD_LABELS[key] for key in renders)
    first = METHOD_LABELS[next(iter(renders))]
    run.add_caption(name, f"Hold-out frames of scene {scene.name}, one per row. Columns: target, {methods}, "
                          f"and the mean absolute RGB error of {first} (colour bar, 0-0.5).")
    return name


def write_scene_geometry(run: RunDir, scene: SceneData, frustum_depth: float = 0.15) -> None:
    """The scene's point cloud, coloured from the first input view that sees each point in front of it, and every
    camera as a frustum (red: hold-out, blue: input), for the report's 3D view."""
    points = scene.points.float()
    colours = torch.full_like(points, 0.5)
    unset = torch.ones(len(points), dtype=torch.bool)
    for view in torch.nonzero(~scene.holdout).flatten().tolist():
        uv, depth = project(points, scene.intrinsics[view].float(), scene.w2c[view].float())
        col, row = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        inside = unset & (depth > 0) & (col >= 0) & (col < scene.width) & (row >= 0) & (row < scene.height)
        colours[inside] = scene.images[view][:, row[inside], col[inside]].T.float()
        unset &= ~inside
    folder = run.pictures / f"{scene.name}_scene"
    write_point_cloud(folder / "points.ply", points.numpy(), colors=colours.numpy())
    scale = frustum_depth * float((points.max(0).values - points.min(0).values).norm())
    corners = torch.tensor([[0, 0], [scene.width, 0], [scene.width, scene.height], [0, scene.height]],
                           dtype=torch.float32)
    vertices, edges, edge_colours = [], [], []
    for view in range(len(scene.w2c)):
        K, c2w = scene.intrinsics[view].float(), invert_pose(scene.w2c[view].float())
        rays = torch.cat([corners, torch.ones(4, 1)], 1) @ torch.linalg.inv(K).T
        camera = torch.cat([torch.zeros(1, 3), rays * scale], 0)
        world = camera @ c2w[:3, :3].T + c2w[:3, 3]
        base = 5 * view
        vertices.append(world)
        edges += [[base, base + i] for i in range(1, 5)] + [[base + i, base + 1 + i % 4] for i in range(1, 5)]
        colour = [0.85, 0.1, 0.1] if bool(scene.holdout[view]) else [0.1, 0.3, 0.9]
        edge_colours += [colour] * 8
    write_line_set(folder / "cameras.ply", torch.cat(vertices).numpy(), np.array(edges), np.array(edge_colours))
    run.add_caption(folder.name, f"Scene {scene.name}: the input point cloud, coloured from the first input view "
                                 "that sees each point, and the cameras as frustums (blue: input views, red: "
                                 "hold-out frames).")


def evaluate(cfg: NPBGPPConfig, run_dir, clock: RunClock | None = None) -> dict:
    """Evaluate a trained run on every hold-out scene: ``metrics.json`` (with headline and provenance),
    ``results.md``, ``eval_details.json`` (timings) and labelled pictures; returns the metrics."""
    run = RunDir(run_dir)
    clock = clock or RunClock()
    seed_everything(cfg.seed)
    model = load_trained_model(run, cfg)
    _, holdout_names = scene_names(cfg)
    if not holdout_names:
        raise InputError("no hold-out scenes configured (data.holdout_scenes is empty)")
    metrics = ImageMetrics(cfg.eval.crop_border, cfg.eval.lpips_net)
    results: dict[str, list[dict]] = {"npbgpp": [], "npbgpp_ft": [], "per_scene_baseline": [], "mean_colour": []}
    timing: dict = {"build_seconds": [], "first_render_seconds": [], "fit_seconds": {"npbgpp_ft": [],
                    "per_scene_baseline": []}, "baseline_seconds_to_npbgpp_psnr": [], "timelines": {}}
    summary_written = False
    for scene in load_scenes(cfg, holdout_names):
        frames = scene.holdout_indices
        if len(frames) == 0:
            raise InputError(f"hold-out scene '{scene.name}' has no hold-out frames to evaluate: set "
                             "data.holdout_frame_ids (or give a NeRF-Synthetic test split)")
        targets = scene.images[frames]
        build_scene(model, scene)  # warm-up: one-off allocations are not part of the scene's fitting time
        start = time.perf_counter()
        descriptors = build_scene(model, scene)
        build_seconds = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            model.render(descriptors, scene.intrinsics[frames[:1]], scene.w2c[frames[:1]], scene.height, scene.width)
        timing["build_seconds"].append(build_seconds)
        timing["first_render_seconds"].append(time.perf_counter() - start)
        renders = {"npbgpp": render_views(functools.partial(model.render, descriptors), scene, frames)}
        results["npbgpp"].append(metrics(renders["npbgpp"], targets))
        mean_colour = metrics(mean_colour_images(scene, frames), targets)
        results["mean_colour"].append({"psnr": mean_colour["psnr"], "ssim": mean_colour["ssim"]})
        log.info("%s: NPBG++ %s, mean colour %s", scene.name, results["npbgpp"][-1], mean_colour)
        if cfg.eval.run_finetune:
            fitted, timeline = fit_scene(model, scene, "ft", cfg, run / "ft" / scene.name, descriptors,
                                         start_seconds=build_seconds)
            renders["npbgpp_ft"] = render_views(fitted.render, scene, frames)
            results["npbgpp_ft"].append(metrics(renders["npbgpp_ft"], targets))
            timing["timelines"][f"{scene.name}/npbgpp_ft"] = timeline
            timing["fit_seconds"]["npbgpp_ft"].append(timeline[-1]["seconds"])
        if cfg.eval.run_baseline:
            fitted, timeline = fit_scene(model, scene, "baseline", cfg, run / "baseline" / scene.name)
            renders["per_scene_baseline"] = render_views(fitted.render, scene, frames)
            results["per_scene_baseline"].append(metrics(renders["per_scene_baseline"], targets))
            timing["timelines"][f"{scene.name}/per_scene_baseline"] = timeline
            timing["fit_seconds"]["per_scene_baseline"].append(timeline[-1]["seconds"])
            timing["baseline_seconds_to_npbgpp_psnr"].append(time_to_reach(timeline, results["npbgpp"][-1]["psnr"]))
        write_pictures(run, scene, frames, renders, cfg.eval.grid_frames)
        if not summary_written:
            labelled_grid(run.pictures / SUMMARY_PICTURE, scene, frames, renders, min(cfg.eval.grid_frames, 3))
            run.add_caption(SUMMARY_PICTURE, f"NPBG++ without per-scene optimisation, after ft and the per-scene "
                                             f"baseline on hold-out frames of the unseen scene {scene.name} "
                                             "(columns: target | methods | error of NPBG++).")
            write_scene_geometry(run, scene)
            summary_written = True
        intrinsics, w2c = orbit_cameras(scene, cfg.eval.orbit_frames, cfg.render.up_axis)
        orbit = render_cameras(model, descriptors, intrinsics, w2c, scene.height, scene.width)
        orbit_name = f"{scene.name}_orbit.mp4"
        write_video(run.pictures / orbit_name, orbit.permute(0, 2, 3, 1).cpu().numpy(), fps=cfg.eval.orbit_fps)
        run.add_caption(orbit_name, f"NPBG++ renders of scene {scene.name} along an orbit at the input cameras' "
                                    "mean distance and elevation (no per-scene optimisation).")
    summary = {name: _average(entries) for name, entries in results.items() if entries}
    real = evaluate_real_scene(model, cfg, run, metrics, write_pictures)
    if real is not None:
        summary["real_scene"] = real
    summary["headline"] = headline(summary)
    model_file = load_checkpoint(model_path(run), weights_only=True)
    steps = {"train": int(model_file.get("step", 0))}
    if cfg.eval.run_finetune:
        steps["ft"] = cfg.finetune.steps
    if cfg.eval.run_baseline:
        steps["baseline"] = cfg.baseline.steps
    block = provenance(cfg, seed=cfg.seed, steps=steps, wall_time_s=clock.seconds(),
                       time_limit_reached=bool(model_file.get("time_limit_reached", False)))
    run.write_metrics(summary, block)
    details = {"holdout_scenes": holdout_names, "lpips_unavailable_reason": metrics.lpips_reason, **timing}
    save_json(details, run / DETAILS_FILE)
    run.write_results(results_markdown(summary, details, cfg, time_limit_message({"provenance": block})))
    return summary


def headline(summary: dict) -> dict:
    """The two or three numbers of the workspace table."""
    numbers = {f"{METHOD_LABELS[key]} PSNR dB": round(summary[key]["psnr"], 2) for key in METHOD_LABELS
               if key in summary}
    return numbers


@torch.no_grad()
def render_cameras(model, descriptors, intrinsics, w2c, height, width, batch: int = 4) -> torch.Tensor:
    chunks = [model.render(descriptors, k, t, height, width).clamp(0, 1)
              for k, t in zip(intrinsics.split(batch), w2c.split(batch), strict=True)]
    return torch.cat(chunks)


def _fmt(value, digits=3):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def results_markdown(summary: dict, details: dict, cfg: NPBGPPConfig, warning: str | None = None) -> str:
    dataset = {"synthetic": "built-in synthetic", "nerf_synthetic": "NeRF-Synthetic", "dtu": "DTU",
               "scannet": "ScanNet"}[cfg.data.kind]
    labels = {"npbgpp": "NPBG++ (no per-scene optimisation)", "npbgpp_ft": "NPBG++ ft",
              "per_scene_baseline": "NPBG-style per-scene baseline", "mean_colour": "mean colour image"}
    rows = []
    for key, label in labels.items():
        if key in summary:
            entry = summary[key]
            fit = details["fit_seconds"].get(key)
            rows.append([label, _fmt(entry.get("psnr"), 2), _fmt(entry.get("ssim")), _fmt(entry.get("lpips")),
                         _fmt(float(np.mean(fit)), 1) if fit else ""])
    ours = markdown_table(["method", "PSNR", "SSIM", "LPIPS", "fit seconds"], rows).rstrip()
    thesis_rows = [[method] + [f"{v[0]:.2f} / {v[1]:.3f} / {v[2]:.3f}" for v in per_set.values()]
                   for method, per_set in THESIS_TABLE3.items()]
    thesis = markdown_table(["method (thesis Table 3)", "NeRF-Synthetic", "ScanNet", "DTU", "H3DS"],
                            thesis_rows).rstrip()
    first_render = float(np.mean(details["build_seconds"]) + np.mean(details["first_render_seconds"]))
    checks = [f"NPBG++ vs mean colour: {summary['npbgpp']['psnr'] - summary['mean_colour']['psnr']:+.2f} dB PSNR"]
    if "npbgpp_ft" in summary:
        checks.append(f"ft vs NPBG++: {summary['npbgpp_ft']['psnr'] - summary['npbgpp']['psnr']:+.2f} dB")
    reach = details["baseline_seconds_to_npbgpp_psnr"]
    if reach:
        if any(value is None for value in reach):
            budget = max(timeline[-1]["seconds"] for name, timeline in details["timelines"].items()
                         if name.endswith("per_scene_baseline"))
            checks.append(f"the baseline did not reach the NPBG++ PSNR within its {budget:.0f} s budget "
                          f"(speed-up >= {budget / first_render:.0f}x)")
        else:
            ratio = float(np.mean(reach)) / first_render
            checks.append(f"time to first render {first_render:.2f} s vs {np.mean(reach):.1f} s for the baseline to "
                          f"reach the same PSNR ({ratio:.0f}x)")
    lines = [f"**Warning: {warning}**", ""] if warning else []
    real_lines = []
    real = summary.get("real_scene")
    if real is not None:
        per_size = real["sizes"]
        real_rows = [[labels[method]] + [f"{entry[method]['psnr']:.2f} / {entry[method]['ssim']:.3f}"
                                         if method in entry else "not run" for entry in per_size.values()]
                     for method in ("npbgpp", "npbgpp_ft", "per_scene_baseline")]
        real_lines = [f"Real scene `{real['scene']}` (NeRF-Synthetic, white background; {real['holdout_frames']} "
                      "hold-out frames; cloud carved from the input views' alpha; NPBG++ trained only on the built-in "
                      "scenes), PSNR / SSIM:", "",
                      markdown_table(["method", *per_size], real_rows).rstrip(), ""]
    lines += [
        f"# NPBG++ results ({dataset}; hold-out frames of hold-out scenes {', '.join(details['holdout_scenes'])})",
        "",
        ours,
        "",
        "LPIPS: " + (f"unavailable ({details['lpips_unavailable_reason']})" if details["lpips_unavailable_reason"]
                     else f"LPIPS-{cfg.eval.lpips_net}."),
        f"Scene build (modeling stage) {np.mean(details['build_seconds']):.2f} s, first render "
        f"{np.mean(details['first_render_seconds']):.3f} s (CPU). " + "; ".join(checks) + ".",
        "",
        *real_lines,
        "Thesis Table 3 (PSNR / SSIM / LPIPS, real data sets at full resolution, GPU):",
        "",
        thesis,
        "",
    ]
    return "\n".join(lines)
