"""Multi-NeuS: textured 3-D head portraits from one image with a multi-scene NeuS (thesis section 3.5)."""

__version__ = "0.1.0"
