"""Running a trained detector on images: resizing, un-scaling boxes, IUV maps and DensePose-format results."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from shared_utils.errors import InputError

from .data.densepose_coco import resize_scale
from .models.detector import iuv_from_outputs


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image has shape {image.shape}, expected (H, W, 3)")
    if not np.all(np.isfinite(image)):
        raise InputError("image contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)


@torch.no_grad()
def predict_images(model, images: list[np.ndarray], min_size: int, max_size: int,
                   score_thresh: float = 0.0, foreground: str = "argmax") -> list[list[dict]]:
    """Per image a list of detections ``{bbox (xywh, original pixels), score, iuv (3, S, S) float32}``."""
    model.eval()
    device = next(model.parameters()).device
    batch, scales = [], []
    for image in images:
        h, w = image.shape[:2]
        scale = resize_scale(h, w, min_size, max_size)
        size = (max(int(round(h * scale)), 1), max(int(round(w * scale)), 1))
        t = image_to_tensor(image).to(device)
        batch.append(F.interpolate(t[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0])
        scales.append((size[1] / w, size[0] / h))
    outputs = model(batch)
    results = []
    for out, (sx, sy) in zip(outputs, scales, strict=False):
        keep = out["scores"] >= score_thresh
        boxes = out["boxes"][keep] / torch.tensor([sx, sy, sx, sy], device=device)
        iuv = iuv_from_outputs(out["dp_coarse"][keep], out["dp_fine"][keep], out["dp_u"][keep], out["dp_v"][keep],
                               foreground)
        dets = []
        scores = out["scores"][keep].cpu().numpy()
        for box, score, maps in zip(boxes.cpu().numpy(), scores, iuv.cpu().numpy(), strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            dets.append({"bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score), "iuv": maps.astype(np.float32)})
        results.append(dets)
    return results


def densepose_result_json(image_id, det: dict) -> dict:
    """A DensePose-style result entry: box, score and the IUV map as nested lists (I as int, U/V rounded)."""
    iuv = det["iuv"]
    return {
        "image_id": image_id,
        "category_id": 1,
        "bbox": [round(v, 2) for v in det["bbox"]],
        "score": round(det["score"], 5),
        "uv_shape": list(iuv.shape),
        "I": iuv[0].astype(np.uint8).tolist(),
        "U": np.round(iuv[1], 3).tolist(),
        "V": np.round(iuv[2], 3).tolist(),
    }
