"""Mobile Parsing R-CNN: fast and light DensePose (thesis section 3.4) on torchvision and timm."""

import shared_utils  # noqa: F401  (first, before torch: it sets OpenMP's spin policy, see there)

__version__ = "0.1.0"
