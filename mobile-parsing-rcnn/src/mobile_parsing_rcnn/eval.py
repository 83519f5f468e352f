"""Evaluation on held-out data: box AP, DensePose AP (GPS, GPSm), metrics.json, results.md and IUV pictures."""

from __future__ import annotations

import logging
import pathlib

import numpy as np
import torch
from shared_utils.io import image_grid, load_json, markdown_table, read_image, save_json, write_image, write_markdown

from .config import Config
from .datasets import body
from .evaluation.metrics import box_ap, densepose_ap
from .evaluation.smpl_geodesics import SMPLGeodesics
from .inference import predict_images
from .params import count_parameters
from .train import data_root, load_trained
from .vis import figure_panels, paste_iuv

log = logging.getLogger(__name__)

# thesis Table 4 (DensePose-COCO minival): (model, #params M, box AP, DensePose AP)
THESIS_TABLE4 = [
    ("DensePose R-CNN (baseline)", 59.73, 57.8, 49.8),
    ("Parsing R-CNN", 54.36, 59.609, 54.676),
    ("Mobile Parsing R-CNN (A)", 11.35, 56.370, 49.512),
    ("Mobile Parsing R-CNN (B)", 3.35, 55.39, 46.79),
    ("Mobile Parsing R-CNN (B), 3x LR", 3.35, 56.83, 51.08),
]


def geodesic_for(cfg: Config):
    """Surface geodesics for GPS: the synthetic body's, or SMPL's from the DensePose evaluation files; else None."""
    if cfg.data.dataset == "synthetic":
        return body.geodesic_distance
    if cfg.eval.smpl_eval_dir:
        return SMPLGeodesics(cfg.eval.smpl_eval_dir)
    log.warning("DensePose AP on DensePose-COCO needs the SMPL geodesic files (eval.smpl_eval_dir: a folder with "
                "SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl); only box AP is computed "
                "(dp_ap_gps and dp_ap_gpsm are null)")
    return None


def _ground_truth_iuv(ann_list, height, width) -> np.ndarray:
    """Sparse ground-truth IUV image (annotated points only), for the pictures."""
    iuv = np.zeros((3, height, width), dtype=np.float32)
    for a in ann_list:
        if not a.get("dp_x"):
            continue
        x, y, w, h = a["bbox"]
        cols = np.clip((x + np.asarray(a["dp_x"]) / 256 * w).astype(int), 0, width - 1)
        rows = np.clip((y + np.asarray(a["dp_y"]) / 256 * h).astype(int), 0, height - 1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                r, c = np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1)
                iuv[:, r, c] = np.stack([a["dp_I"], a["dp_U"], a["dp_V"]])
    return iuv


def evaluate_run(run_dir, cfg: Config, checkpoint=None) -> dict:
    """Evaluate the run's last checkpoint on the held-out split; writes metrics.json, results.md, pictures/."""
    run_dir = pathlib.Path(run_dir)
    checkpoint = pathlib.Path(checkpoint) if checkpoint else run_dir / "checkpoints" / "last.ckpt"
    module = load_trained(checkpoint)
    model = module.model
    root = data_root(cfg)
    gt = load_json(root / cfg.data.val_json)
    images = gt["images"][: cfg.eval.max_images] if cfg.eval.max_images else gt["images"]
    gt = {**gt, "images": images}
    ids = {img["id"] for img in images}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    detections, pictures = [], []
    anns_by_image: dict[int, list] = {}
    for a in gt["annotations"]:
        anns_by_image.setdefault(a["image_id"], []).append(a)
    for img in images:
        image = read_image(root / cfg.data.val_images / img["file_name"], channels=3)
        dets = predict_images(model, [image], cfg.data.min_size_test, cfg.data.max_size_test,
                              cfg.eval.score_thresh, cfg.eval.foreground)[0]
        for d in dets:
            detections.append({"image_id": img["id"], "category_id": 1, **d})
        if len(pictures) < cfg.eval.num_pictures:
            iuv = paste_iuv(dets, image.shape[0], image.shape[1])
            gt_iuv = _ground_truth_iuv(anns_by_image.get(img["id"], []), image.shape[0], image.shape[1])
            pictures.append(figure_panels(image, iuv, gt_iuv))
    metrics = {"box_ap": 100 * box_ap(gt, detections)}
    geodesic = geodesic_for(cfg)
    if geodesic is None:
        metrics["dp_ap_gps"] = metrics["dp_ap_gpsm"] = None
    else:
        dp = densepose_ap(gt, detections, geodesic, cfg.eval.gps_kappa)
        metrics["dp_ap_gps"] = 100 * dp["gps"]
        metrics["dp_ap_gpsm"] = 100 * dp["gpsm"]
    metrics["params"] = count_parameters(model)
    save_json(metrics, run_dir / "metrics.json")
    if pictures:
        write_image(run_dir / "pictures" / "iuv_val.png", image_grid(_same_size(pictures), ncols=1))
    steps = torch.load(checkpoint, map_location="cpu", weights_only=False).get("global_step", 0)
    write_markdown(run_dir / "results.md", results_markdown(metrics, cfg, len(images), steps))
    log.info("metrics: %s", metrics)
    return metrics


def _same_size(pictures: list[np.ndarray]) -> list[np.ndarray]:
    h = max(p.shape[0] for p in pictures)
    w = max(p.shape[1] for p in pictures)
    out = []
    for p in pictures:
        canvas = np.ones((h, w, 3), dtype=np.float32)
        canvas[: p.shape[0], : p.shape[1]] = p
        out.append(canvas)
    return out


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def results_markdown(metrics: dict, cfg: Config, num_images: int, steps: int) -> str:
    rows = [[name, f"{p:.2f}M", f"{b:.2f}", f"{d:.2f}", "—", "DensePose-COCO minival (thesis)"]
            for name, p, b, d in THESIS_TABLE4]
    rows.append([f"ours: Mobile Parsing R-CNN ({cfg.model.variant})", f"{metrics['params'] / 1e6:.2f}M",
                 f"{metrics['box_ap']:.2f}", _fmt(metrics["dp_ap_gps"]), _fmt(metrics["dp_ap_gpsm"]),
                 f"{num_images} held-out synthetic images, short side {cfg.data.min_size_test}"
                 if cfg.data.dataset == "synthetic" else f"{num_images} images of {cfg.data.val_json}"])
    table = markdown_table(["model", "#params", "box AP", "DensePose AP (GPS)", "DensePose AP (GPSm)", "data"], rows)
    note = (f"Our row is trained for {steps} steps (batch {cfg.data.batch_size}) on the built-in synthetic people "
            "(CPU config), so its APs are not comparable with the thesis numbers on DensePose-COCO. Same architecture "
            "as the thesis's (3.35M with frozen backbone batch norms; the CPU config trains them from random init, "
            f"+0.04M). GPS uses the synthetic body's own surface geodesics, kappa = {cfg.eval.gps_kappa}.")
    return f"# Mobile Parsing R-CNN: results beside thesis Table 4\n\n{table}\n\n{note}\n"
