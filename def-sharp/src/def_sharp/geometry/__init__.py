"""Procedural CAD-like shapes, their sharp feature curves and exact distance-to-feature labels."""
