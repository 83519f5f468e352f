"""DEF: deep estimation of sharp geometric features in 3D shapes (thesis section 3.2)."""

__version__ = "0.1.0"
