"""detectron2 backend: Mobile Parsing R-CNN's parts registered in detectron2's and DensePose's registries.

Importing this package does not import detectron2; ``require_detectron2()`` says in one line how to add it.
"""

from __future__ import annotations

from shared_utils.errors import InputError

INSTALL_HINT = ("detectron2 is not installed: add it with `python -m mobile_parsing_rcnn.detectron2_backend.install` "
                "(builds it from $DETECTRON2_SRC, ../shared/vendor/detectron2-src.tar.gz or the official repository)")


def detectron2_available() -> bool:
    """Whether detectron2 (with its compiled ops) and DensePose import."""
    try:
        import densepose  # noqa: F401
        import detectron2._C  # noqa: F401
    except ImportError:
        return False
    return True


def require_detectron2() -> None:
    if not detectron2_available():
        raise InputError(INSTALL_HINT)
