"""The member's data: the built-in synthetic people (rendered on demand) and DensePose-COCO annotations."""

from __future__ import annotations

import pathlib

from shared_utils.run import data_root

from ..config import Config
from .synthetic import ensure_synthetic_dataset


def dataset_folder(cfg: Config) -> pathlib.Path:
    """The folder that ``data.train_json``, ``data.val_json`` and the image folders are relative to.

    Synthetic: rendered under the data root (``data.root``, else ``$THESIS_DATA_ROOT/mprcnn``, else ``data/mprcnn``)
    unless a complete copy with the same settings is there. DensePose-COCO: ``data.root`` itself.
    """
    root = data_root("mprcnn", cfg.data.root, writable=cfg.data.dataset == "synthetic")
    if cfg.data.dataset == "synthetic":
        return ensure_synthetic_dataset(root, cfg.synthetic)
    return root
