"""DEF: deep estimation of sharp geometric features in 3D shapes (thesis section 3.2)."""

import shared_utils  # noqa: F401  (first, before torch: it sets OpenMP's spin policy, see there)

__version__ = "0.1.0"
