"""Speed of torch training steps when two processes share the cores.

`python shared-utils/benchmarks/openmp_contention.py`

Each case runs the same small convolutional training loop in fresh processes, alone and as two at once, under a
thread count and an OpenMP spin policy, and prints milliseconds per step and the slow-down of the pair against the
same case alone, all measured in one invocation. The cases: libgomp's default spinning, the workspace's default
(``GOMP_SPINCOUNT=1000``, set by ``shared_utils``), passive waiting, and one thread per process. Writes
``outputs/bench/openmp_contention.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from shared_utils.io import save_json

STEP_LOOP = """
import json, sys, time, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 3, 3, padding=1))
optimizer = torch.optim.Adam(net.parameters())
x = torch.randn(4, 16, 48, 48)
steps = int(sys.argv[1])
for i in range(steps + 10):
    if i == 10:
        start = time.perf_counter()
    loss = net(x).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(json.dumps({"ms_per_step": 1000 * (time.perf_counter() - start) / steps, "threads": torch.get_num_threads()}))
"""

CASES = {
    "libgomp default spinning": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "300000"},
    "workspace default (GOMP_SPINCOUNT=1000)": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "1000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "1000"},
}


def run_together(count: int, env: dict, steps: int) -> list[float]:
    """``count`` processes started at once; each one's milliseconds per step."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    processes = [subprocess.Popen([sys.executable, "-c", STEP_LOOP, str(steps)], env={**base, **env},
                                  stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [p.communicate()[0] for p in processes]
    if any(p.returncode for p in processes):
        raise SystemExit("a benchmark process failed")
    return [json.loads(out)["ms_per_step"] for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/openmp_contention.json"))
    args = parser.parse_args()
    rows = []
    print(f"{os.cpu_count()} cores; {args.steps} steps per process")
    print(f"{'case':42s} {'alone ms':>9s} {'pair ms':>9s} {'slow-down':>10s}")
    for name, env in CASES.items():
        alone = run_together(1, env, args.steps)[0]
        pair = max(run_together(2, env, args.steps))
        rows.append({"case": name, "env": env, "alone_ms": alone, "pair_ms": pair, "slowdown": pair / alone})
        print(f"{name:42s} {alone:9.1f} {pair:9.1f} {pair / alone:9.1f}x")
    save_json({"cores": os.cpu_count(), "steps": args.steps, "rows": rows}, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
