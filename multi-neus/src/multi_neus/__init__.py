"""Multi-NeuS: textured 3-D head portraits from one image with a multi-scene NeuS (thesis section 3.5)."""

import shared_utils  # noqa: F401  (first, before torch: it sets OpenMP's spin policy, see there)

__version__ = "0.1.0"
