"""Parameter counts of every variant beside thesis Tables 4 and 6.

What is counted: every ``nn.Parameter`` of the whole detector (backbone, neck, RPN head, box head and predictor,
DensePose head and predictor), as detectron2's ``sum(p.numel() for p in model.parameters())`` in the reference's
count_params.py. Parameters frozen by ``freeze_at`` count; the backbone's frozen batch norms do not (detectron2's
FrozenBN keeps scale, shift and statistics as buffers); trainable batch norms (BiFPN, non-local) count.
"""

from __future__ import annotations

import torch
from shared_utils.errors import InputError
from torch import nn

from .config import Config, load
from .models.detector import build_model

# config stem -> (label, thesis count in millions, thesis table)
THESIS_PARAMS = {
    "thesis": ("Mobile Parsing R-CNN (B), BiFPN 64", 3.35, "Table 4/6"),
    "variant_a": ("Mobile Parsing R-CNN (A), FPN 256", 11.35, "Table 4/6"),
    "bifpn_256": ("BiFPN 256", 10.53, "Table 6"),
    "bifpn_112": ("BiFPN 112", 4.41, "Table 6"),
    "bifpn_88": ("BiFPN 88", 3.82, "Table 6"),
    "densepose_rcnn_r50_fpn": ("DensePose R-CNN R50-FPN (baseline)", 59.73, "Table 4"),
    "parsing_rcnn_r50_fpn": ("Parsing R-CNN R50-FPN", 54.36, "Table 4"),
}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def module_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters per component: backbone body, neck, RPN, box head + predictor, DensePose head + predictor."""
    heads = model.roi_heads
    return {
        "backbone": count_parameters(model.backbone.body),
        "neck": count_parameters(model.backbone.neck),
        "rpn": count_parameters(model.rpn),
        "box_head": count_parameters(heads.box_head) + count_parameters(heads.box_predictor),
        "densepose_head": count_parameters(heads.densepose_head) + count_parameters(heads.densepose_predictor),
    }


# model.variant of each shipped config -> its config stem in THESIS_PARAMS
VARIANT_STEMS = {"B": "thesis", "A": "variant_a", "BiFPN-256": "bifpn_256", "BiFPN-112": "bifpn_112",
                 "BiFPN-88": "bifpn_88", "DensePose R-CNN": "densepose_rcnn_r50_fpn",
                 "Parsing R-CNN": "parsing_rcnn_r50_fpn"}


def parameter_row(name: str, cfg: Config) -> dict:
    """``{config, model, ours_m, thesis_m, rel_diff, table, breakdown}`` of one config (random init, on the meta
    device: nothing is allocated or loaded); ``thesis_m`` is None for a variant the thesis does not count."""
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.loss)
    ours = count_parameters(model)
    stem = VARIANT_STEMS.get(cfg.model.variant)
    label, thesis_m, table = THESIS_PARAMS[stem] if stem else (f"variant {cfg.model.variant}", None, None)
    return {"config": name, "model": label, "ours_m": round(ours / 1e6, 4), "thesis_m": thesis_m,
            "rel_diff": None if thesis_m is None else round((ours / 1e6 - thesis_m) / thesis_m, 4), "table": table,
            "breakdown": module_breakdown(model)}


def parameter_table(stems=None, overrides=()) -> list[dict]:
    """Rows of :func:`parameter_row` for shipped config stems (default: every variant the thesis counts)."""
    rows = []
    for stem in stems or THESIS_PARAMS:
        if stem not in THESIS_PARAMS:
            raise InputError(f"no thesis parameter count for config '{stem}'; known: {', '.join(THESIS_PARAMS)}")
        rows.append(parameter_row(stem, load(stem, ["model.backbone.pretrained=false", *overrides])))
    return rows
