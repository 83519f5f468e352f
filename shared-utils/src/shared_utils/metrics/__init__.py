"""Image, perceptual, geometric and distribution metrics.

Names are re-exported lazily (PEP 562) so that PSNR/SSIM users do not import open3d and lpips.
"""

import importlib

_EXPORTS = {
    "frechet": ["frechet_distance", "frechet_distance_from_statistics", "gaussian_statistics"],
    "geometry": ["chamfer_distance", "icp_align", "nearest_distances"],
    "image": ["psnr", "ssim"],
    "lpips": ["LPIPS", "lpips_unavailable_reason"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
