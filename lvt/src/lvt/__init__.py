"""Latent Video Transformer (thesis section 3.1): VQ-VAE frame codes + subscale latent video transformer."""

__version__ = "0.1.0"
