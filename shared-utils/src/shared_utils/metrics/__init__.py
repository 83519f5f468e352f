"""Image, perceptual, geometric and distribution metrics.

Names are re-exported lazily (PEP 562) so that PSNR/SSIM users do not import open3d and lpips.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "frechet": ["frechet_distance", "frechet_distance_from_statistics", "gaussian_statistics"],
    "geometry": ["chamfer_distance", "icp_align", "nearest_distances"],
    "image": ["psnr", "ssim"],
    "lpips": ["LPIPS", "lpips_unavailable_reason"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
