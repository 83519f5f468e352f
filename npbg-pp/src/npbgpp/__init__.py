"""NPBG++: accelerating neural point-based graphics (thesis section 3.3)."""

import shared_utils  # noqa: F401  (first, before torch: it sets OpenMP's spin policy, see there)

__version__ = "0.1.0"
