"""DEF benchmarks (`make bench-def`): whole-model throughput / peak memory at 100k and 1M points, and DEF vs the
covariance baseline on held-out patches (quality from the trained run, speed measured here in one process).

Each whole-model size runs in its own subprocess so that its peak resident memory (ru_maxrss) is its own. The
network is the trained checkpoint of outputs/def/default when present, else a randomly initialised network of the
CPU config (same cost; the numbers then measure speed only). Results: outputs/def/bench/results.json.
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
from shared_utils.run import RunDir

RUN = RunDir("outputs/def/default")
OUT_DIR = Path("outputs/def/bench")


def _module(cfg):
    from def_sharp.evaluate import load_module
    from def_sharp.lightning import DEFModule

    if RUN.checkpoints.is_dir():
        return load_module(RUN.path), "trained"
    return DEFModule.from_config(cfg, input_scale=2.4).eval(), "random init"


def whole_model_worker(n_points: int) -> dict:
    """Scan a shape from 18 views at the pixel size that yields about n_points, predict, fuse (min)."""
    from def_sharp.config import load
    from def_sharp.geometry.shapes import make_shape
    from def_sharp.whole_model import fuse, predict_views, scan_mesh_views

    cfg = load("cpu")
    shape = make_shape("hole", seed=5)
    rng = np.random.default_rng(0)
    probe, _ = scan_mesh_views(shape.mesh, cfg, rng)
    points_at_default = sum(int(image.mask.sum()) for image in probe)
    cfg.data.scan.pixel_size *= float(np.sqrt(points_at_default / n_points))
    module, weights = _module(cfg)
    start = time.perf_counter()
    images, _ = scan_mesh_views(shape.mesh, cfg, rng)
    scanned = time.perf_counter()
    views = predict_views(module, images, cfg)
    predicted = time.perf_counter()
    fused = fuse(views, cfg)
    finished = time.perf_counter()
    total_points = sum(len(values) for values in fused)
    return {
        "points": total_points,
        "views": len(images),
        "weights": weights,
        "seconds_scan": scanned - start,
        "seconds_network": predicted - scanned,
        "seconds_fusion": finished - predicted,
        "points_per_second": total_points / (finished - scanned),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def def_vs_baseline(n_patches: int = 64) -> dict:
    """Per-patch time of DEF and of the baseline on the same held-out patches; quality from the run's metrics."""
    from def_sharp.config import load
    from def_sharp.data.defsim import dataset_dir, load_split
    from def_sharp.evaluate import fit_baseline, predict_patches

    cfg = RUN.load_config(load) if RUN.config.is_file() else load("cpu")
    result: dict = {}
    if RUN.metrics.is_file():
        metrics = RUN.read_metrics()
        result["quality"] = {"def": metrics["def"], "baseline": metrics["baseline"]}
    if not (dataset_dir(cfg.data) / "manifest.json").exists():
        result["note"] = "no data set yet: run `make train-def` first for the patch comparison"
        return result
    test = load_split(dataset_dir(cfg.data), "test")
    pick = slice(0, min(n_patches, len(test)))
    module, weights = _module(cfg)
    start = time.perf_counter()
    predict_patches(module, test.depth[pick], test.mask[pick])
    def_seconds = time.perf_counter() - start
    baseline = fit_baseline(cfg, load_split(dataset_dir(cfg.data), "train").subset(np.arange(32)))
    start = time.perf_counter()
    for depth, mask in zip(test.depth[pick], test.mask[pick], strict=True):
        baseline.predict(depth, mask)
    baseline_seconds = time.perf_counter() - start
    count = len(test.depth[pick])
    result["speed"] = {"patches": count, "weights": weights, "def_ms_per_patch": 1e3 * def_seconds / count,
                       "baseline_ms_per_patch": 1e3 * baseline_seconds / count,
                       "def_over_baseline_time": def_seconds / baseline_seconds}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(whole_model_worker(args.worker)))
        return
    whole = []
    for size in args.sizes:
        output = subprocess.run([sys.executable, __file__, "--worker", str(size)], capture_output=True, text=True,
                                check=True).stdout
        whole.append(json.loads(output.strip().splitlines()[-1]))
    comparison = def_vs_baseline()
    print(f"{'points':>9} {'views':>5} {'scan s':>7} {'net s':>7} {'fuse s':>7} {'pts/s':>9} {'peak GB':>8}  weights")
    for row in whole:
        print(f"{row['points']:>9} {row['views']:>5} {row['seconds_scan']:>7.1f} {row['seconds_network']:>7.1f} "
              f"{row['seconds_fusion']:>7.1f} {row['points_per_second']:>9.0f} {row['peak_rss_gb']:>8.2f}  "
              f"{row['weights']}")
    for name, values in comparison.get("quality", {}).items():
        print(f"{name:9s} rmse {values['rmse']:.4f} rmse_q95 {values['rmse_q95']:.4f} "
              f"recall {100 * values['recall']:.1f} % fpr {100 * values['fpr']:.2f} %")
    if "speed" in comparison:
        speed = comparison["speed"]
        print(f"per patch: DEF {speed['def_ms_per_patch']:.1f} ms, baseline {speed['baseline_ms_per_patch']:.1f} ms "
              f"(ratio {speed['def_over_baseline_time']:.2f})")
    if "note" in comparison:
        print(comparison["note"])
    from shared_utils.io import save_json

    save_json({"whole_model": whole, "def_vs_baseline": comparison}, OUT_DIR / "results.json")
    print(f"wrote {OUT_DIR / 'results.json'}")


if __name__ == "__main__":
    main()
