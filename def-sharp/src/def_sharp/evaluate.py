"""Evaluation of a trained run on held-out shapes: DEF vs the covariance baseline on test patches, whole models,
labelled pictures; writes metrics.json (with headline and provenance), results.md and pictures/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared_utils.io import colorize, load_checkpoint, markdown_table, write_point_cloud
from shared_utils.run import PROVENANCE_KEY, RunClock, RunDir, provenance, time_limit_message

from def_sharp.baseline import CovarianceBaseline
from def_sharp.config import DEFConfig
from def_sharp.data.defsim import PatchArrays, ensure_dataset, load_split
from def_sharp.data.patches import normalise_depth
from def_sharp.lightning import DEFModule
from def_sharp.metrics import METRIC_KEYS, patch_metrics, recall_at_fpr
from def_sharp.visualize import patch_picture, summary_picture

# Thesis Table 2 (DEF-Sim patches, high resolution): RMSE and RMSE-q95 in 1e-3 units, recall and FPR in %.
THESIS_TABLE2 = [
    ("VCM", None, None, 49.1, 3.1),
    ("EC-Net", None, None, 79.2, 2.9),
    ("PIE-NET", None, None, 32.0, 3.8),
    ("ShF", 18.0, 95.7, 80.9, 0.3),
    ("DEF", 11.1, 42.5, 80.02, 0.02),
]
BASELINE_NAME = "PCA baseline"
SUMMARY_PATCHES = 3


def load_module(run_dir: str | Path, device: torch.device | str = "cpu") -> DEFModule:
    """The run's best-by-validation network (else its last one), in eval mode."""
    return DEFModule.from_checkpoint(RunDir(run_dir).best_checkpoint(), device)


def steps_run(run: RunDir) -> int:
    """Optimizer steps the run trained for (its last checkpoint's step)."""
    checkpoint = run.resume_checkpoint() or run.best_checkpoint()
    return int(load_checkpoint(checkpoint).get("global_step", 0))


@torch.no_grad()
def predict_patches(module: DEFModule, depth: np.ndarray, mask: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(B, H, W) raw depth + mask -> (B, H, W) predicted distances."""
    inputs = normalise_depth(depth, mask, module.input_scale, module.cfg.data.background_value)
    device = next(module.parameters()).device
    outputs = [
        module.predict_distance(torch.from_numpy(inputs[start : start + batch_size])[:, None].to(device)).cpu().numpy()
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(outputs)


def fit_baseline(cfg: DEFConfig, train: PatchArrays) -> CovarianceBaseline:
    rng = np.random.default_rng(cfg.seed)
    pick = rng.permutation(len(train))[: cfg.baseline.calibration_patches]
    baseline = CovarianceBaseline(cfg.baseline, cfg.data.scan.pixel_size)
    return baseline.fit(train.depth[pick], train.mask[pick], train.distance[pick])


def _format_row(name: str, values: dict | tuple) -> list:
    if isinstance(values, dict):
        values = (values["rmse"] * 1e3, values["rmse_q95"] * 1e3, values["recall"] * 100, values["fpr"] * 100)
    return [name, *("—" if v is None else f"{v:.2f}" for v in values)]


def headline(metrics: dict) -> dict[str, float]:
    """The numbers the root README shows: DEF's patch-level recall, FPR and mean RMSE."""
    ours = metrics["def"]
    return {"recall %": round(100 * ours["recall"], 2), "FPR %": round(100 * ours["fpr"], 2),
            "mRMSE ×1e-3": round(1e3 * ours["rmse"], 2)}


def results_markdown(metrics: dict, cfg: DEFConfig, time_limit_note: str | None = None) -> str:
    headers = ["Method", "RMSE ×1e-3 ↓", "RMSE-q95 ×1e-3 ↓", "Recall % ↑", "FPR % ↓"]
    ours = [
        _format_row(f"DEF, {cfg.model.loss} loss (this run)", metrics["def"]),
        _format_row("Covariance/PCA sharpness baseline (this run)", metrics["baseline"]),
    ]
    thesis = [_format_row(f"{row[0]} (thesis)", row[1:]) for row in THESIS_TABLE2]
    lines = ["# DEF: sharp-feature distance estimation on held-out patches", ""]
    if time_limit_note:
        lines += [f"**Warning: {time_limit_note}.**", ""]
    lines += [
        f"Held-out test patches: {metrics['n_test_patches']} from {metrics['n_test_shapes']} procedural shapes "
        f"(pixel size {cfg.data.scan.pixel_size}, truncation {cfg.data.scan.truncation}, threshold r = "
        f"{cfg.eval.threshold}); network: {metrics['checkpoint']}. Thesis rows: DEF-Sim patches from ABC CAD models "
        "(Table 2); the data differ, so the rows compare the methods' behaviour, not absolute numbers.",
        "",
        markdown_table(headers, ours + thesis),
        "",
        f"At DEF's FPR ({100 * metrics['def']['fpr']:.2f} %) the baseline's recall is "
        f"{100 * metrics['baseline_at_def_fpr']['recall']:.1f} % (its decision threshold moved to "
        f"{metrics['baseline_at_def_fpr']['decision_threshold']:.4f}).",
        "",
    ]
    whole = metrics.get("whole_model")
    if whole:
        from def_sharp.whole_model import whole_model_markdown

        lines += [whole_model_markdown(whole), ""]
    return "\n".join(lines)


def _select(metrics: dict) -> dict:
    return {key: metrics[key] for key in METRIC_KEYS}


def _caption_whole_model_pictures(run: RunDir) -> None:
    for path in sorted(run.pictures.glob("whole_model_*_curves.png")):
        run.add_caption(path.name, "Feature curves extracted from the fused DEF distances (red) and the shape's "
                                   "true sharp curves (black, dashed) over the scanned points (grey).")
    for path in sorted(run.pictures.glob("whole_model_*_views.png")):
        shape = path.name.removeprefix("whole_model_").removesuffix("_views.png")
        run.add_caption(path.name, f"Held-out whole model '{shape}' seen from several scan directions (rows); "
                                   "columns: DEF fused over the shown views, the PCA baseline, the "
                                   "normal-discontinuity baseline and the true distance, painted on each view's "
                                   "surface pixels (bright: near a sharp feature; grey: no surface).")


def write_pictures(run: RunDir, cfg: DEFConfig, module: DEFModule, test: PatchArrays, predictions: dict,
                   metrics: dict) -> None:
    """The patch grid, the run's summary picture and the captions of every picture."""
    truncation, threshold = cfg.data.scan.truncation, cfg.eval.threshold
    pick = np.random.default_rng(cfg.seed).permutation(len(test))[: cfg.eval.picture_patches]
    inputs = normalise_depth(test.depth[pick], test.mask[pick], module.input_scale, np.nan)
    patch_picture(run.pictures / "patches.png", inputs, test.distance[pick], test.mask[pick],
                  {name: values[pick] for name, values in predictions.items()}, truncation, threshold)
    run.add_caption("patches.png", f"Held-out test patches (rows, drawn at random). Columns: the network input "
                                   f"(depth above the patch's nearest point, normalised), the true distance to the "
                                   f"nearest sharp curve, DEF's estimate and the PCA baseline's. Distances in shape "
                                   f"units, colour scale 0-{truncation:g} (the truncation); r = {threshold:g} "
                                   "marked on the colour bar; grey: no surface.")
    # The summary shows the patches with the most sharp pixels, where the methods differ most.
    sharp_pixels = ((test.distance < threshold) & test.mask).sum((1, 2))
    show = np.sort(np.argsort(-sharp_pixels, kind="stable")[:SUMMARY_PATCHES])
    scores = {name: f"recall {100 * metrics[key]['recall']:.1f} %, FPR {100 * metrics[key]['fpr']:.2f} %"
              for name, key in (("DEF", "def"), (BASELINE_NAME, "baseline"))}
    summary_picture(run.pictures / "summary.png", test.distance[show], test.mask[show],
                    {name: values[show] for name, values in predictions.items()}, scores, truncation, threshold)
    run.add_caption("summary.png", f"The {SUMMARY_PATCHES} held-out test patches with the most sharp pixels (rows): "
                                   "true distance to the nearest sharp curve, DEF's estimate and the PCA baseline's, "
                                   f"with each method's recall and FPR over all {metrics['n_test_patches']} test "
                                   "patches (bright: near a sharp feature; grey: no surface).")
    write_patch_clouds(run, cfg, test, predictions["DEF"], show[0])
    _caption_whole_model_pictures(run)


def write_patch_clouds(run: RunDir, cfg: DEFConfig, test: PatchArrays, estimate: np.ndarray, index: int) -> None:
    """The sharpest held-out patch lifted back to 3D (its orthographic pixel grid times the pixel size, its depth),
    coloured by DEF's estimate and, beside it, by the true distance: the report's 3D view of the result."""
    truncation, pixel = cfg.data.scan.truncation, cfg.data.scan.pixel_size
    mask = test.mask[index]
    rows, cols = np.nonzero(mask)
    points = np.stack([cols * pixel, -rows * pixel, -test.depth[index][mask]], axis=1)
    shift = np.array([(mask.shape[1] + 8) * pixel, 0.0, 0.0])
    folder = run.pictures / "sharpest_test_patch"
    write_point_cloud(folder / "def_estimate.ply", points, colors=colorize(estimate[index][mask], 0.0, truncation))
    write_point_cloud(folder / "truth.ply", points + shift, colors=colorize(test.distance[index][mask], 0.0,
                                                                          truncation))
    run.add_caption(folder.name, f"The held-out test patch with the most sharp pixels as 3D points: left, coloured "
                                 f"by DEF's estimated distance to the nearest sharp curve; right, by the true "
                                 f"distance (viridis, 0-{truncation:g} shape units; dark: on a sharp feature).")


def evaluate(cfg: DEFConfig, run_dir: str | Path, clock: RunClock | None = None) -> dict:
    """Evaluate the run's best network; writes metrics.json, results.md and pictures/ and returns the metrics.
    `clock`: started when the command started (the pipeline's covers generation and training too)."""
    clock = clock or RunClock()
    run = RunDir(run_dir).require()
    checkpoint = run.best_checkpoint()
    module = DEFModule.from_checkpoint(checkpoint)
    data_dir = ensure_dataset(cfg.data)
    test = load_split(data_dir, "test")
    prediction = predict_patches(module, test.depth, test.mask, cfg.optim.batch_size)
    baseline = fit_baseline(cfg, load_split(data_dir, "train"))
    baseline_prediction = np.stack([baseline.predict(d, m) for d, m in zip(test.depth, test.mask, strict=True)])
    threshold = cfg.eval.threshold
    metrics = {
        "def": _select(patch_metrics(prediction, test.distance, test.mask, threshold)),
        "baseline": _select(patch_metrics(baseline_prediction, test.distance, test.mask, threshold)),
        "threshold": threshold,
        "n_test_patches": len(test),
        "n_test_shapes": int(len(np.unique(test.shape))),
        "checkpoint": checkpoint.name,
        "data": cfg.data.name,
    }
    metrics["baseline_at_def_fpr"] = recall_at_fpr(baseline_prediction, test.distance, test.mask, threshold,
                                                   metrics["def"]["fpr"])
    run.pictures.mkdir(parents=True, exist_ok=True)
    if cfg.eval.whole_model_shapes > 0:
        from def_sharp.whole_model import evaluate_whole_models

        metrics["whole_model"] = evaluate_whole_models(module, cfg, run.pictures)
    write_pictures(run, cfg, module, test, {"DEF": prediction, BASELINE_NAME: baseline_prediction}, metrics)
    steps = steps_run(run)
    limited = cfg.trainer.max_time_minutes is not None and 0 < cfg.trainer.max_steps and steps < cfg.trainer.max_steps
    metrics = {"headline": headline(metrics), **metrics}
    block = provenance(cfg, seed=cfg.seed, steps={"train": steps}, wall_time_s=clock.seconds(),
                       time_limit_reached=limited)
    run.write_metrics(metrics, block)
    run.write_results(results_markdown(metrics, cfg, time_limit_message({PROVENANCE_KEY: block})))
    return run.read_metrics()
