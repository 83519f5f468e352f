"""Parameter counts of the detectron2-built variants beside thesis Tables 4 and 6 (as ``params.py`` counts them).

Every ``nn.Parameter`` of the model detectron2's ``build_model`` returns: backbone and neck, RPN head, box head and
predictor, DensePose head and predictor. FrozenBN statistics are buffers and do not count.
"""

from __future__ import annotations

from detectron2.modeling import build_model

from ..params import THESIS_PARAMS, count_parameters
from . import modeling  # noqa: F401 - registers the member's parts
from .config import load_config

# shipped detectron2 config -> the torchvision path's config of the same model (its THESIS_PARAMS entry)
THESIS_CONFIG = {"mprcnn_B": "thesis", "mprcnn_A": "variant_a"}


def module_breakdown(model) -> dict[str, int]:
    heads = model.roi_heads
    return {
        "backbone": count_parameters(model.backbone.backbone_with_neck.body),
        "neck": count_parameters(model.backbone.backbone_with_neck.neck),
        "rpn": count_parameters(model.proposal_generator),
        "box_head": count_parameters(heads.box_head) + count_parameters(heads.box_predictor),
        "densepose_head": count_parameters(heads.densepose_head) + count_parameters(heads.densepose_predictor),
    }


def parameter_table(stems=tuple(THESIS_CONFIG)) -> list[dict]:
    """Rows ``{config, model, ours_m, thesis_m, rel_diff, table, breakdown}`` (random init; nothing is loaded)."""
    rows = []
    for stem in stems:
        label, thesis_m, table = THESIS_PARAMS[THESIS_CONFIG[stem]]
        cfg = load_config(stem, ["MODEL.TIMMNETS.PRETRAINED", "False", "MODEL.DEVICE", "cpu"])
        model = build_model(cfg)
        ours = count_parameters(model)
        rows.append({"config": stem, "model": label, "ours_m": round(ours / 1e6, 4), "thesis_m": thesis_m,
                     "rel_diff": round((ours / 1e6 - thesis_m) / thesis_m, 4), "table": table,
                     "breakdown": module_breakdown(model)})
    return rows


if __name__ == "__main__":
    for row in parameter_table():
        print(f"{row['config']:<10} {row['model']:<40} {row['ours_m']:.4f}M  thesis {row['thesis_m']}M  "
              f"{100 * row['rel_diff']:+.2f} %  {row['breakdown']}")
