"""detectron2 configs of Mobile Parsing R-CNN: the shipped YAMLs, ``_BASE_`` on DensePose's configs, overrides.

The shipped YAMLs (``configs/detectron2/``) name DensePose R-CNN's base config as the DensePose project's own configs
do (``_BASE_: Base-DensePose-RCNN-FPN.yaml``). DensePose's wheel does not carry its configs, so a ``_BASE_`` that is
not beside the including file is read from DensePose's ``configs/`` folder: ``$DENSEPOSE_CONFIGS``, else the copy
that ``python -m mobile_parsing_rcnn.detectron2_backend.install`` puts into the environment.
"""

from __future__ import annotations

import os
import pathlib

from densepose import add_densepose_config
from detectron2.config import CfgNode, get_cfg
from shared_utils.errors import InputError

from .data import add_synthetic_config
from .install import installed_configs
from .modeling import add_mobile_parsing_config

SHIPPED_CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs" / "detectron2"
DENSEPOSE_BASE = "Base-DensePose-RCNN-FPN.yaml"


def shipped_configs() -> dict[str, pathlib.Path]:
    return {path.stem: path for path in sorted(SHIPPED_CONFIGS.glob("*.yaml"))}


def densepose_configs_dir() -> pathlib.Path:
    folder = pathlib.Path(os.environ.get("DENSEPOSE_CONFIGS") or installed_configs())
    if not (folder / DENSEPOSE_BASE).is_file():
        raise InputError(f"DensePose's configs ({DENSEPOSE_BASE}) are not in '{folder}': run `python -m "
                         "mobile_parsing_rcnn.detectron2_backend.install` or set DENSEPOSE_CONFIGS to the "
                         "projects/DensePose/configs folder of a detectron2 source")
    return folder


class _DensePoseBasedConfig(CfgNode):
    """Opens a config that is missing where ``_BASE_`` points from DensePose's configs folder instead."""

    @classmethod
    def _open_cfg(cls, filename):
        path = pathlib.Path(filename)
        if not path.is_file():
            path = densepose_configs_dir() / path.name
        return super()._open_cfg(str(path))


def config_path(name_or_path: str) -> pathlib.Path:
    path = pathlib.Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    if name_or_path in shipped:
        return shipped[name_or_path]
    raise InputError(f"detectron2 config '{name_or_path}' is neither a file nor a shipped config "
                     f"({', '.join(shipped)})")


def empty_config() -> CfgNode:
    """detectron2's defaults with DensePose's keys and ours."""
    cfg = get_cfg()
    add_densepose_config(cfg)
    add_mobile_parsing_config(cfg)
    add_synthetic_config(cfg)
    return cfg


def load_config(name_or_path: str, opts: list[str] | tuple[str, ...] = ()) -> CfgNode:
    """A shipped config stem or a YAML path, then ``KEY VALUE`` overrides (detectron2's ``opts``)."""
    path = config_path(name_or_path)
    cfg = empty_config()
    try:
        loaded = _DensePoseBasedConfig.load_yaml_with_base(str(path), allow_unsafe=False)
        if loaded.get("VERSION", cfg.VERSION) != cfg.VERSION:
            raise InputError(f"{path}: config VERSION {loaded['VERSION']} is not detectron2's {cfg.VERSION}")
        cfg.merge_from_other_cfg(CfgNode(loaded))
        cfg.merge_from_list(list(opts))
    except (KeyError, ValueError, AssertionError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"detectron2 config '{path}': {exc}") from exc
    return cfg
