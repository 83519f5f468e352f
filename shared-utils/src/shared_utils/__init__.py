"""Utilities shared by the thesis-methods members: cameras, file I/O, metrics, config, weights and training."""

__version__ = "0.1.0"
