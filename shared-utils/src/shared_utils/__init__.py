"""Utilities shared by the thesis-methods members: cameras, file I/O, metrics, config, weights and training."""

import os

# libgomp (torch's OpenMP runtime on Linux) reads its spin policy once, when torch loads it, and by default busy-waits
# ~300k spins at every barrier. With another job on the same cores, two 2-thread torch processes then slow each other
# down ~15x (measured by shared-utils/benchmarks/openmp_contention.py); 1000 spins keep the idle speed and cost ~2.7x
# instead. Every member's package imports shared_utils first, before torch. A user's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
