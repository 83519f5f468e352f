"""NPBG++: accelerating neural point-based graphics (thesis section 3.3)."""

__version__ = "0.1.0"
