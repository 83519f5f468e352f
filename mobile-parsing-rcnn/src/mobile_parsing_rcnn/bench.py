"""CPU latency of the variants against the DensePose R-CNN R50-FPN baseline at the same input size.

Each model runs full inference (backbone, neck, RPN, box head, NMS, DensePose head on its detections) on the same
random image; to make the DensePose head's cost comparable, every model keeps the same number of detections (its
score threshold is 0, ``detections_per_img`` fixed). torchvision's Mask R-CNN and Keypoint R-CNN (R50-FPN, random
weights: latency does not depend on them) can join the table, at the same input size (their resize is set to keep
it). Reported: median wall time over repeats, FPS, and the speed-up of each model over the baseline measured in the
same process.
"""

from __future__ import annotations

import statistics
import time

import torch
from shared_utils.errors import InputError
from shared_utils.runtime import use_threads

from .config import Config, load
from .models.detector import build_model

BASELINE = "densepose_rcnn_r50_fpn"
MIN_SIZE = 32
TORCHVISION_MODELS = ("maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn")


def torchvision_detector(name: str, height: int, width: int, detections: int):
    """A torchvision R-CNN with random weights whose input transform keeps a ``height`` x ``width`` image as it is."""
    from torchvision.models import detection

    if name not in TORCHVISION_MODELS:
        raise InputError(f"torchvision model '{name}' is not one of {', '.join(TORCHVISION_MODELS)}")
    return getattr(detection, name)(weights=None, weights_backbone=None, min_size=min(height, width),
                                    max_size=max(height, width), box_score_thresh=0.0,
                                    box_detections_per_img=detections).eval()


def _latency(model, image: torch.Tensor, repeats: int) -> float:
    times = []
    with torch.no_grad():
        model([image])
        for _ in range(repeats):
            start = time.perf_counter()
            model([image])
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency_table(cfg: Config, stems: list[str], short_side: int, repeats: int = 3, detections: int = 10,
                  aspect: float = 4 / 3, torchvision_models: tuple[str, ...] = ()) -> list[dict]:
    if short_side < MIN_SIZE:
        raise InputError(f"--size {short_side} is too small: the input's short side must be at least {MIN_SIZE} pixels "
                         "(one cell of the network's coarsest feature map)")
    if repeats < 1:
        raise InputError(f"--repeats {repeats} must be at least 1")
    use_threads(cfg.num_threads)
    stems = list(dict.fromkeys([*stems, BASELINE]))
    image = torch.rand(3, short_side, int(round(short_side * aspect)), generator=torch.Generator().manual_seed(0))
    rows = []
    for stem in stems:
        overrides = ["model.backbone.pretrained=false", "model.box_head.score_thresh=0.0",
                     f"model.box_head.detections_per_img={detections}"]
        model = build_model(load(stem, overrides).model).eval()
        seconds = _latency(model, image, repeats)
        rows.append({"config": stem, "variant": model.cfg.variant, "ms": 1000 * seconds, "fps": 1.0 / seconds,
                     "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                     "input": [short_side, image.shape[-1]], "threads": torch.get_num_threads()})
    for name in torchvision_models:
        model = torchvision_detector(name, *image.shape[-2:], detections)
        seconds = _latency(model, image, repeats)
        rows.append({"config": name, "variant": "torchvision", "ms": 1000 * seconds, "fps": 1.0 / seconds,
                     "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                     "input": [short_side, image.shape[-1]], "threads": torch.get_num_threads()})
    base = next(r for r in rows if r["config"] == BASELINE)["ms"]
    for r in rows:
        r["speedup_vs_baseline"] = base / r["ms"]
    return rows
