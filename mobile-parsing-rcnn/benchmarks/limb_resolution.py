"""How much of each body part survives at the DensePose head's label resolution (no training: a measurement of the
data). The coarse-part masks of the held-out synthetic people (DensePose-COCO's 256 x 256 box grid) are resampled to
S x S over the box (nearest, as the losses resample them) and back; per coarse part, the IoU of the round trip and
the share of the part's annotated points whose S x S cell carries the part's label.

S = 16: the CPU config's RoIAlign, 32: its head output (one 2x deconvolution) and the thesis's RoIAlign, 64: the
thesis's head output.

    python mobile-parsing-rcnn/benchmarks/limb_resolution.py [key=value ...]
"""

from __future__ import annotations

import json
import sys
import tempfile

import numpy as np

GROUPS = {"torso": [1], "head": [14], "upper arms": [10, 11], "lower arms": [12, 13], "hands": [2, 3],
          "upper legs": [6, 7], "lower legs": [8, 9], "feet": [4, 5]}
SIZES = (16, 32, 64)


def round_trip(labels: np.ndarray, size: int) -> np.ndarray:
    """Nearest resampling of a (256, 256) label grid to size x size (cell centres) and back."""
    centres = ((np.arange(size) + 0.5) / size * 256).astype(int)
    small = labels[np.ix_(centres, centres)]
    back = (np.arange(256) * size // 256)
    return small[np.ix_(back, back)]


def main(overrides: list[str]) -> dict:
    from mobile_parsing_rcnn.config import load
    from mobile_parsing_rcnn.data.body import FINE_TO_COARSE
    from mobile_parsing_rcnn.data.densepose_coco import decode_dp_masks
    from mobile_parsing_rcnn.data.synthetic import generate_split

    cfg = load("cpu", overrides)
    with tempfile.TemporaryDirectory() as folder:
        path = generate_split(__import__("pathlib").Path(folder), "val", cfg.synthetic.num_val, cfg.synthetic,
                              cfg.synthetic.seed + 1)
        annotations = json.loads(path.read_text())["annotations"]
    iou = {g: {s: [0, 0] for s in SIZES} for g in GROUPS}
    points = {g: {s: [0, 0] for s in SIZES} for g in GROUPS}
    for ann in annotations:
        labels = decode_dp_masks(ann["dp_masks"])
        coarse_of_point = FINE_TO_COARSE[np.asarray(ann["dp_I"], dtype=int)]
        cols = np.clip(np.asarray(ann["dp_x"]).astype(int), 0, 255)
        rows = np.clip(np.asarray(ann["dp_y"]).astype(int), 0, 255)
        for size in SIZES:
            back = round_trip(labels, size)
            for group, parts in GROUPS.items():
                before, after = np.isin(labels, parts), np.isin(back, parts)
                iou[group][size][0] += int((before & after).sum())
                iou[group][size][1] += int((before | after).sum())
                on = np.isin(coarse_of_point, parts)
                points[group][size][0] += int(on.sum())
                points[group][size][1] += int((on & np.isin(back[rows, cols], parts)).sum())
    table = {group: {f"S={s}": {"mask IoU %": round(100 * iou[group][s][0] / max(iou[group][s][1], 1), 1),
                                 "points kept %": round(100 * points[group][s][1] / max(points[group][s][0], 1), 1)}
                     for s in SIZES} for group in GROUPS}
    print(json.dumps({"people": len(annotations), **table}, indent=1))
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
