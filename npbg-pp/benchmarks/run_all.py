"""NPBG++ benchmarks on CPU: scene build time and render FPS at 256x256, aggregation peak memory with 10 vs 100
views, and time to reach a PSNR (NPBG++ without optimisation, then ft) against the per-scene NPBG baseline.

Usage: python npbg-pp/benchmarks/run_all.py [--run-dir outputs/npbg/default] [--out outputs/npbg/bench]
Uses the trained model of --run-dir when present (run `make train-npbg` first), otherwise a random-init model
(stated in the output). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from shared_utils.io import markdown_table, save_json
from shared_utils.metrics import psnr
from shared_utils.run import RunDir
from shared_utils.runtime import seed_everything

from npbgpp.config import NPBGPPConfig, load
from npbgpp.data.synthetic import generate_scene, random_cameras, random_primitives, render_image, sample_point_cloud
from npbgpp.evaluate import time_to_reach
from npbgpp.finetune import build_scene, fit_scene
from npbgpp.lightning import render_views
from npbgpp.models.npbgpp import NPBGPP
from npbgpp.train import load_trained_model, model_path


def model_for(run_dir: Path, overrides=()) -> tuple[NPBGPPConfig, NPBGPP, str]:
    run = RunDir(run_dir)
    if model_path(run).is_file():
        cfg = run.load_config(load, overrides)
        return cfg, load_trained_model(run, cfg), f"trained model from {run_dir}"
    cfg = load("cpu", overrides)
    return cfg, NPBGPP(cfg).eval(), "random-init model (no trained run found)"


def bench_build_and_fps(run_dir: Path, frames: int = 10) -> dict:
    cfg, model, source = model_for(run_dir)
    synthetic = cfg.data.synthetic
    synthetic.image_size, synthetic.views_per_scene, synthetic.points_per_scene = 256, 24, 100_000
    scene = generate_scene("bench256", 1234, synthetic)
    build_scene(model, scene)  # warm-up
    start = time.perf_counter()
    descriptors = build_scene(model, scene)
    build_seconds = time.perf_counter() - start
    indices = scene.holdout_indices.repeat(frames)[:frames]
    start = time.perf_counter()
    with torch.no_grad():
        for index in indices.tolist():
            model.render(descriptors, scene.intrinsics[index: index + 1], scene.w2c[index: index + 1], 256, 256)
    fps = frames / (time.perf_counter() - start)
    return {"model": source, "image_size": 256, "input_views": int(scene.input_indices.numel()),
            "points": int(scene.points.shape[0]), "build_seconds": build_seconds, "render_fps": fps,
            "threads": torch.get_num_threads()}


def aggregation_worker(num_views: int) -> None:
    """Child process: aggregate ``num_views`` views rendered lazily one at a time; print peak RSS (MiB)."""
    seed_everything(0)
    cfg = load("cpu")
    model = NPBGPP(cfg).eval()
    rng = np.random.default_rng(0)
    primitives = random_primitives(rng)
    points = torch.from_numpy(sample_point_cloud(primitives, 50_000, 0.005, rng))
    intrinsics, w2c = random_cameras(num_views, 128, 45.0, 30.0, rng)

    def views():
        for k, t in zip(intrinsics, w2c, strict=True):
            image = render_image(primitives, k, t, 128, 128).permute(2, 0, 1).contiguous()
            yield image, k.float(), t.float()

    first = next(views())
    with torch.no_grad():
        model.aggregate([first], points)  # allocator warm-up outside the measurement
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        model.aggregate(views(), points)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"views": num_views, "peak_rss_mib": after, "increase_mib": after - before}))


def bench_memory() -> dict:
    results = {}
    for count in (10, 100):
        output = subprocess.run([sys.executable, __file__, "--aggregation-worker", str(count)], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results[count] = json.loads(output)
    ratio = results[100]["peak_rss_mib"] / results[10]["peak_rss_mib"]
    return {"views_10": results[10], "views_100": results[100], "peak_ratio_100_vs_10": ratio}


def bench_time_to_psnr(run_dir: Path, out: Path) -> dict:
    cfg, model, source = model_for(run_dir)
    seed_everything(cfg.seed)
    synthetic = cfg.data.synthetic
    scene = generate_scene("bench_holdout", 4321, synthetic)
    frames = scene.holdout_indices
    start = time.perf_counter()
    descriptors = build_scene(model, scene)
    with torch.no_grad():
        model.render(descriptors, scene.intrinsics[frames[:1]], scene.w2c[frames[:1]], scene.height, scene.width)
    first_render_seconds = time.perf_counter() - start
    renders = render_views(lambda k, t, h, w: model.render(descriptors, k, t, h, w), scene, frames)
    npbgpp_psnr = float(psnr(renders, scene.images[frames], crop_border=cfg.eval.crop_border).mean())
    _, ft_timeline = fit_scene(model, scene, "ft", cfg, out / "ft", descriptors, start_seconds=first_render_seconds)
    _, baseline_timeline = fit_scene(model, scene, "baseline", cfg, out / "baseline")
    baseline_seconds = time_to_reach(baseline_timeline, npbgpp_psnr)
    return {
        "model": source,
        "npbgpp_first_render_seconds": first_render_seconds,
        "npbgpp_psnr": npbgpp_psnr,
        "npbgpp_ft_timeline": ft_timeline,
        "baseline_timeline": baseline_timeline,
        "baseline_seconds_to_npbgpp_psnr": baseline_seconds,
        # When the baseline never reaches the NPBG++ PSNR, its whole budget gives a lower bound on the speed-up.
        "speedup": (baseline_seconds or baseline_timeline[-1]["seconds"]) / first_render_seconds,
        "speedup_is_lower_bound": baseline_seconds is None,
        "baseline_final_psnr": baseline_timeline[-1]["psnr"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", default="outputs/npbg/default")
    parser.add_argument("--out", default="outputs/npbg/bench")
    parser.add_argument("--aggregation-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aggregation_worker:
        aggregation_worker(args.aggregation_worker)
        return
    run_dir, out = Path(args.run_dir), Path(args.out)
    results = {"build_and_fps": bench_build_and_fps(run_dir), "aggregation_memory": bench_memory(),
               "time_to_psnr": bench_time_to_psnr(run_dir, out)}
    save_json(results, out / "bench.json")
    build, memory, speed = results["build_and_fps"], results["aggregation_memory"], results["time_to_psnr"]
    rows = [
        ["scene build, 256x256", f"{build['input_views']} views, {build['points']} points",
         f"{build['build_seconds']:.2f} s"],
        ["render FPS, 256x256", build["model"], f"{build['render_fps']:.2f}"],
        ["aggregation peak RSS, 10 views", "", f"{memory['views_10']['peak_rss_mib']:.0f} MiB"],
        ["aggregation peak RSS, 100 views", "", f"{memory['views_100']['peak_rss_mib']:.0f} MiB"],
        ["peak ratio 100 / 10 views", "target <= 1.1", f"{memory['peak_ratio_100_vs_10']:.3f}"],
        ["NPBG++ time to first render", f"PSNR {speed['npbgpp_psnr']:.2f}",
         f"{speed['npbgpp_first_render_seconds']:.2f} s"],
        ["NPBG baseline time to the same PSNR", f"final {speed['baseline_final_psnr']:.2f}",
         f"not reached in {speed['baseline_timeline'][-1]['seconds']:.1f} s"
         if speed["baseline_seconds_to_npbgpp_psnr"] is None
         else f"{speed['baseline_seconds_to_npbgpp_psnr']:.1f} s"],
        ["speed-up", "target >= 20x", f"{'>= ' if speed['speedup_is_lower_bound'] else ''}{speed['speedup']:.1f}x"],
    ]
    print(markdown_table(["benchmark", "setting", "value"], rows))
    print(f"JSON: {out / 'bench.json'}")


if __name__ == "__main__":
    main()
