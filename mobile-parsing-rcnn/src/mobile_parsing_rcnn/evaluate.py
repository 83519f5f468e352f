"""Evaluation of a trained run: box AP, DensePose AP (GPS, GPSm), metrics.json, results.md and pictures."""

from __future__ import annotations

import logging

import numpy as np
from shared_utils.io import image_grid, markdown_table, read_image, write_image
from shared_utils.run import RunClock, RunDir, provenance, time_limit_message

from .config import Config
from .data import body, dataset_folder
from .data.densepose_coco import load_json
from .evaluation.metrics import box_ap, densepose_ap, dp_points_in_image, points_by_part
from .evaluation.smpl_geodesics import SMPLGeodesics
from .inference import predict_images
from .lightning import load_trained
from .params import count_parameters
from .vis import figure_panels, loss_curves, paste_iuv, titled

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


def ground_truth_iuv(ann_list, height, width) -> np.ndarray:
    """Sparse ground-truth IUV image (annotated points only), for the pictures."""
    iuv = np.zeros((3, height, width), dtype=np.float32)
    for a in ann_list:
        if not a.get("dp_x"):
            continue
        x, y, w, h = a["bbox"]
        px, py = dp_points_in_image(a)
        cols = np.clip(px.astype(int), 0, width - 1)
        rows = np.clip(py.astype(int), 0, height - 1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                r, c = np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1)
                iuv[:, r, c] = np.stack([a["dp_I"], a["dp_U"], a["dp_V"]])
    return iuv


def evaluate(cfg: Config, run_dir, clock: RunClock | None = None) -> dict:
    """Evaluate the run's checkpoint on the held-out split; writes metrics.json, results.md and pictures/.

    ``clock`` is the command's clock (the pipeline's includes training); the wall time in the provenance is its
    reading when the metrics are written.
    """
    clock = clock or RunClock()
    run = RunDir(run_dir).require()
    checkpoint = run.best_checkpoint()
    module = load_trained(checkpoint)
    steps = module.trained_steps
    model = module.model
    folder = dataset_folder(cfg)
    gt = load_json(folder / cfg.data.val_json)
    images = gt["images"][: cfg.eval.max_images] if cfg.eval.max_images else gt["images"]
    gt = {**gt, "images": images}
    ids = {img["id"] for img in images}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    detections, pictures = [], []
    anns_by_image: dict[int, list] = {}
    for a in gt["annotations"]:
        anns_by_image.setdefault(a["image_id"], []).append(a)
    for img in images:
        image = read_image(folder / cfg.data.val_images / img["file_name"], channels=3)
        dets = predict_images(model, [image], cfg.data.min_size_test, cfg.data.max_size_test,
                              cfg.eval.score_thresh, cfg.eval.foreground)[0]
        for d in dets:
            detections.append({"image_id": img["id"], "category_id": 1, **d})
        if len(pictures) < cfg.eval.num_pictures:
            iuv = paste_iuv(dets, image.shape[0], image.shape[1])
            gt_iuv = ground_truth_iuv(anns_by_image.get(img["id"], []), image.shape[0], image.shape[1])
            pictures.append(figure_panels(image, iuv, gt_iuv))
    metrics = {"box_ap_pct": 100 * box_ap(gt, detections)}
    geodesic = geodesic_for(cfg)
    if geodesic is None:
        metrics["dp_ap_gps_pct"] = metrics["dp_ap_gpsm_pct"] = None
    else:
        dp = densepose_ap(gt, detections, geodesic, kappa_of(cfg))
        metrics["dp_ap_gps_pct"] = 100 * dp["gps"]
        metrics["dp_ap_gpsm_pct"] = 100 * dp["gpsm"]
    metrics["points_by_part"] = points_by_part(gt, detections)
    metrics["params"] = count_parameters(model)
    metrics["headline"] = {"GPS AP %": _rounded(metrics["dp_ap_gps_pct"]), "box AP %": _rounded(metrics["box_ap_pct"]),
                           "params M": round(metrics["params"] / 1e6, 2)}
    limit_hit = cfg.trainer.max_time_minutes is not None and steps < cfg.trainer.max_steps
    block = provenance(cfg, seed=cfg.seed, steps={"train": steps}, wall_time_s=clock.seconds(),
                       time_limit_reached=limit_hit)
    run.write_metrics(metrics, block)
    write_pictures(run, pictures, metrics, cfg, steps)
    run.write_results(results_markdown(run.read_metrics(), cfg, len(images), steps))
    log.info("metrics: %s", metrics)
    return run.read_metrics()


IUV_CAPTION = ("One held-out image per row. Columns: the input image; the predicted fine parts I (a colour per part, "
               "named in the legend at the right); contour lines of the predicted U and V chart coordinates (0.05 to "
               "0.95, colour bar); the annotated ground-truth points coloured by their part.")
LOSS_CAPTION = ("Training losses against the optimizer step (log scale), from the run's CSV logs: left the total, "
                "right each term as weighted in training (RPN objectness and box, Fast R-CNN classifier and box, "
                "DensePose coarse segmentation S, fine parts I, U and V).")


def write_pictures(run: RunDir, rows: list[np.ndarray], metrics: dict, cfg: Config, steps: int) -> None:
    """``iuv_val.png`` (the labelled held-out grid), ``loss_curves.png`` and ``summary.png`` (the first row under
    the run's headline), each with its caption."""
    if rows:
        write_image(run.pictures / "iuv_val.png", image_grid(_same_size(rows), ncols=1))
        run.add_caption("iuv_val.png", IUV_CAPTION)
        headline = ", ".join(f"{k} {'n/a' if v is None else v}" for k, v in metrics["headline"].items())
        title = f"Mobile Parsing R-CNN ({cfg.model.variant}), {steps} steps: {headline}"
        write_image(run.pictures / "summary.png", titled(rows[0], title))
        run.add_caption("summary.png", f"{title}. The first row of iuv_val.png: image, predicted parts, U and V "
                                       "contours, annotated ground truth, part legend.")
    logs = sorted((run.logs / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))
    curves = loss_curves(logs)
    if curves is not None:
        write_image(run.pictures / "loss_curves.png", curves)
        run.add_caption("loss_curves.png", LOSS_CAPTION)


def kappa_of(cfg: Config) -> float | None:
    """The constant kappa of GPS, or None for the official per-part values."""
    return cfg.eval.constant_kappa if cfg.eval.kappa == "constant" else None


def _rounded(value):
    return None if value is None else round(value, 2)


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
    """The thesis's Table 4 with our run's row; APs in percent."""
    rows = [[name, f"{p:.2f}M", f"{b:.2f}", f"{d:.2f}", "—", "DensePose-COCO minival (thesis)"]
            for name, p, b, d in THESIS_TABLE4]
    data = (f"{num_images} held-out synthetic images, short side {cfg.data.min_size_test}"
            if cfg.data.dataset == "synthetic" else f"{num_images} images of {cfg.data.val_json}")
    rows.append([f"ours: Mobile Parsing R-CNN ({cfg.model.variant})", f"{metrics['params'] / 1e6:.2f}M",
                 _fmt(metrics["box_ap_pct"]), _fmt(metrics["dp_ap_gps_pct"]), _fmt(metrics["dp_ap_gpsm_pct"]), data])
    table = markdown_table(["model", "#params", "box AP %", "DensePose AP (GPS) %", "DensePose AP (GPSm) %", "data"],
                           rows)
    kappa = ("the official per-part kappa" if cfg.eval.kappa == "per_part"
             else f"a constant kappa = {cfg.eval.constant_kappa}")
    geodesics = ("the synthetic body's own surface geodesics" if cfg.data.dataset == "synthetic"
                 else "SMPL surface geodesics")
    note = (f"Our row: {steps} training steps of batch {cfg.data.batch_size}"
            + (" on the built-in synthetic people, so its APs are not comparable with the thesis numbers on "
               "DensePose-COCO" if cfg.data.dataset == "synthetic" else "")
            + f". GPS uses {geodesics} and {kappa}.")
    warning = time_limit_message(metrics)
    if warning:
        note = f"**Warning: {warning}.**\n\n{note}"
    return f"# Mobile Parsing R-CNN: results beside thesis Table 4\n\n{table}\n\n{note}\n"
