"""The member's synthetic people as detectron2 datasets, read by DensePose's own DensePose-COCO reader.

``SYNTHETIC.*`` holds the renderer's settings (``config.SyntheticConfig``, upper-cased); the rendered folder is the
member's (``data/synthetic.ensure_synthetic_dataset``), so both backends train on the same files. A config whose
``DATASETS`` name ``mprcnn_synthetic_train`` / ``mprcnn_synthetic_val`` gets them registered by
:func:`register_synthetic_people`.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
from densepose.data.datasets.coco import load_coco_json
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from scipy.io import savemat
from shared_utils.io.atomic import atomic_path
from shared_utils.run import data_root

from ..config import SyntheticConfig
from ..data import body
from ..data.synthetic import ensure_synthetic_dataset

SYNTHETIC_SPLITS = {"mprcnn_synthetic_train": "train", "mprcnn_synthetic_val": "val"}


def add_synthetic_config(cfg: CfgNode) -> None:
    cfg.SYNTHETIC = CfgNode()
    for field in dataclasses.fields(SyntheticConfig):
        setattr(cfg.SYNTHETIC, field.name.upper(), getattr(SyntheticConfig(), field.name))
    # data root (default: $THESIS_DATA_ROOT/mprcnn, else data/mprcnn)
    cfg.SYNTHETIC.ROOT = ""


def synthetic_settings(cfg: CfgNode) -> SyntheticConfig:
    fields = dataclasses.fields(SyntheticConfig)
    return SyntheticConfig(**{f.name: getattr(cfg.SYNTHETIC, f.name.upper()) for f in fields})


def write_uv_symmetry(path: pathlib.Path) -> pathlib.Path:
    """The synthetic charts' flip tables as DensePose's ``UV_symmetry_transforms.mat`` (1 x 24 cells of maps).

    DensePose's dataset mapper reads this file for horizontal flips of every DensePose dataset.
    """
    u_tables, v_tables = body.uv_symmetry_tables()
    cells = {}
    for key, tables in (("U_transforms", u_tables), ("V_transforms", v_tables)):
        cell = np.empty((1, len(tables)), dtype=object)
        for part, table in enumerate(tables):
            cell[0, part] = table.astype(np.float64)
        cells[key] = cell
    with atomic_path(path) as tmp:
        savemat(tmp, cells)
    return path


def register_synthetic_people(cfg: CfgNode) -> pathlib.Path | None:
    """Render (or reuse) the synthetic people of ``cfg.SYNTHETIC`` and register the splits named in ``DATASETS``.

    Returns the data folder, or None when the config names no synthetic split. A name registered before (another
    config in the same process) is registered anew.
    """
    wanted = [name for name in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST) if name in SYNTHETIC_SPLITS]
    if not wanted:
        return None
    folder = ensure_synthetic_dataset(data_root("mprcnn", cfg.SYNTHETIC.ROOT or None), synthetic_settings(cfg))
    symmetry = write_uv_symmetry(pathlib.Path(cfg.OUTPUT_DIR) / "synthetic_UV_symmetry_transforms.mat")
    for name in wanted:
        split = SYNTHETIC_SPLITS[name]
        if name in DatasetCatalog:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        images = str(folder / "images" / split)
        annotations = str(folder / "annotations" / f"densepose_{split}.json")
        # as DensePose's register_dataset, but with the synthetic charts' flip tables (not the SMPL ones)
        DatasetCatalog.register(name, lambda a=annotations, i=images, n=name: load_coco_json(a, i, n))
        MetadataCatalog.get(name).set(json_file=annotations, image_root=images, densepose_transform_src=str(symmetry))
    return folder
