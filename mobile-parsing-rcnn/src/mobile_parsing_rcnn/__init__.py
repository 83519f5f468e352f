"""Mobile Parsing R-CNN: fast and light DensePose (thesis section 3.4) on torchvision and timm."""

__version__ = "0.1.0"
