"""Latent Video Transformer (thesis section 3.1): VQ-VAE frame codes + subscale latent video transformer."""

import shared_utils  # noqa: F401  (first, before torch: it sets OpenMP's spin policy, see there)

__version__ = "0.1.0"
