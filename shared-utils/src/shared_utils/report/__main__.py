"""``python -m shared_utils.report OUTPUTS_DIR``: every run's report.html (missing or stale ones rewritten) and
``OUTPUTS_DIR/index.html`` linking them."""

from __future__ import annotations

import argparse
import pathlib

from ..errors import cli_entry
from .index import write_index


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared_utils.report", description=__doc__)
    parser.add_argument("outputs", type=pathlib.Path, help="folder holding <alias>/<run>/ run folders")
    args = parser.parse_args(argv)
    print(f"wrote {write_index(args.outputs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_entry(run)())
