"""Benchmarks of Mobile Parsing R-CNN (``make bench-mprcnn``): parameter counts beside the thesis and CPU latency of
the variants against the DensePose R-CNN R50-FPN baseline at the same input size, measured in one process.

Writes ``outputs/mprcnn/bench/{params,latency}.json`` relative to the working directory.
"""

from __future__ import annotations

import argparse
import pathlib

from mobile_parsing_rcnn.bench import latency_table
from mobile_parsing_rcnn.config import load
from mobile_parsing_rcnn.params import parameter_table
from shared_utils.io import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=320, help="short side of the test image")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default="outputs/mprcnn/bench")
    args = parser.parse_args()
    out = pathlib.Path(args.output_dir)

    params = parameter_table()
    print(f"{'config':26s} {'ours':>9s} {'thesis':>8s} {'diff':>7s}")
    for r in params:
        print(f"{r['config']:26s} {r['ours_m']:8.3f}M {r['thesis_m']:7.2f}M {100 * r['rel_diff']:+6.2f}%")
    save_json(params, out / "params.json")

    cfg = load("cpu", [f"num_threads={args.threads}"])
    rows = latency_table(cfg, ["thesis", "bifpn_88", "bifpn_112", "variant_a", "parsing_rcnn_r50_fpn"], args.size,
                         args.repeats)
    print(f"\nCPU latency, input {rows[0]['input']}, {rows[0]['threads']} threads, median of {args.repeats}")
    print(f"{'config':26s} {'ms':>9s} {'FPS':>7s} {'speed-up vs R50-FPN':>20s}")
    for r in rows:
        print(f"{r['config']:26s} {r['ms']:9.1f} {r['fps']:7.2f} {r['speedup_vs_baseline']:19.2f}x")
    save_json(rows, out / "latency.json")


if __name__ == "__main__":
    main()
