"""Why the limbs do not learn: the CPU config's training (same steps, seed and data) under single changes, each
evaluated per body part (``metrics.json`` ``points_by_part``: where the annotated points of each part go).

Variants: the CPU config as shipped (DensePose RoIAlign 16 x 16, head output 32 x 32); the thesis's RoIAlign 32 x 32
(output 64 x 64); the fine-part loss weight and the coarse-segmentation weight swapped (2.0 / 0.3). Each trained run
is also evaluated with detectron2's argmax foreground rule. The variants train in parallel processes; on a GPU the
whole study takes minutes (``trainer.accelerator=auto``), on two CPU cores about an hour per variant.

    python mobile-parsing-rcnn/benchmarks/limb_study.py OUTPUT_DIR [key=value ...]
"""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import shutil
import sys

VARIANTS = {
    "cpu": [],
    "roi32": ["model.densepose_head.pooler_resolution=32"],
    "loss_weights_swapped": ["loss.part_weights=2.0", "loss.index_weights=0.3"],
}


def run_variant(name: str, output: pathlib.Path, overrides: list[str]) -> dict:
    from mobile_parsing_rcnn.config import load
    from mobile_parsing_rcnn.evaluate import evaluate
    from mobile_parsing_rcnn.train import train

    cfg = load("cpu", ["trainer.accelerator=auto", "trainer.enable_progress_bar=false", *VARIANTS[name], *overrides])
    run_dir = train(cfg, output / name)
    result = {"variant": name, "overrides": VARIANTS[name], "probability rule": evaluate(cfg, run_dir)}
    shutil.copy(run_dir / "metrics.json", run_dir / "metrics_probability.json")
    argmax = load("cpu", ["trainer.accelerator=auto", *VARIANTS[name], *overrides, "eval.foreground=argmax"])
    result["argmax rule"] = evaluate(argmax, run_dir)
    (output / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str]) -> None:
    from mobile_parsing_rcnn.config import load
    from mobile_parsing_rcnn.data import dataset_folder

    output, overrides = pathlib.Path(argv[0]), argv[1:]
    output.mkdir(parents=True, exist_ok=True)
    print("data:", dataset_folder(load("cpu", overrides)), flush=True)  # rendered once, before the processes start
    with multiprocessing.get_context("spawn").Pool(len(VARIANTS)) as pool:
        jobs = [pool.apply_async(run_variant, (name, output, overrides)) for name in VARIANTS]
        for job in jobs:
            result = job.get()
            for rule in ("probability rule", "argmax rule"):
                m = result[rule]
                print(json.dumps({"variant": result["variant"], "rule": rule, "box AP %": m["box_ap_pct"],
                                  "GPS AP %": m["dp_ap_gps_pct"], "GPSm AP %": m["dp_ap_gpsm_pct"],
                                  "steps": m["provenance"]["steps"], "points_by_part": m["points_by_part"]}),
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
