"""Distance-to-feature quality measures (DEF, thesis Table 2), without the reference's slips.

Patch level: per patch RMSE over surface pixels; mRMSE is their mean and RMSE-q95 their 95th percentile. A pixel is
sharp when its distance is below r; recall and FPR are computed per patch and averaged over the patches that hold
positives (recall) or negatives (FPR). Whole-model level: RMSE over points, the 95th percentile of absolute errors
(not of squared errors), recall/FPR at r and average precision with -distance as the sharpness score (small
predicted distance = confident sharp).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

METRIC_KEYS = ("rmse", "rmse_q95", "recall", "fpr")


def per_patch_statistics(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray, threshold: float) -> dict:
    """prediction, target, mask: (B, H, W). Returns per-patch arrays: rmse, tp, fn, fp, tn (patches with no surface
    pixel are dropped)."""
    prediction, target, mask = (np.asarray(a) for a in (prediction, target, mask))
    mask = mask.astype(bool)
    count = mask.sum((-1, -2))
    keep = count > 0
    squared = np.where(mask, (prediction - target) ** 2, 0.0).sum((-1, -2))
    truth, guess = (target < threshold) & mask, (prediction < threshold) & mask
    return {
        "rmse": np.sqrt(squared[keep] / count[keep]),
        "tp": (truth & guess).sum((-1, -2))[keep],
        "fn": (truth & ~guess).sum((-1, -2))[keep],
        "fp": (~truth & guess & mask).sum((-1, -2))[keep],
        "tn": (~truth & ~guess & mask).sum((-1, -2))[keep],
    }


def summarise_patches(stats: dict) -> dict[str, float]:
    """Aggregate concatenated per-patch statistics into mRMSE, RMSE-q95, recall, FPR."""
    positives = stats["tp"] + stats["fn"]
    negatives = stats["fp"] + stats["tn"]
    has_pos, has_neg = positives > 0, negatives > 0
    return {
        "rmse": float(stats["rmse"].mean()),
        "rmse_q95": float(np.quantile(stats["rmse"], 0.95)),
        "recall": float((stats["tp"][has_pos] / positives[has_pos]).mean()) if has_pos.any() else float("nan"),
        "fpr": float((stats["fp"][has_neg] / negatives[has_neg]).mean()) if has_neg.any() else float("nan"),
    }


def patch_metrics(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray, threshold: float) -> dict[str, float]:
    return summarise_patches(per_patch_statistics(prediction, target, mask, threshold))


def point_metrics(prediction: np.ndarray, target: np.ndarray, threshold: float) -> dict[str, float]:
    """Whole-model metrics over points (N,), e.g. fused multi-view predictions against exact labels."""
    prediction, target = np.asarray(prediction, dtype=np.float64), np.asarray(target, dtype=np.float64)
    error = np.abs(prediction - target)
    truth, guess = target < threshold, prediction < threshold
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "abs_error_q95": float(np.quantile(error, 0.95)),
        "recall": float((truth & guess).sum() / truth.sum()) if truth.any() else float("nan"),
        "fpr": float((~truth & guess).sum() / (~truth).sum()) if (~truth).any() else float("nan"),
        "average_precision": float(average_precision_score(truth, -prediction)) if truth.any() else float("nan"),
    }


def recall_at_fpr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray, threshold: float,
                  target_fpr: float, iterations: int = 30) -> dict[str, float]:
    """Recall of `prediction` when its decision threshold (sharp if prediction < t) is moved so that its
    patch-averaged FPR matches `target_fpr` (truth still split at `threshold`): compares two estimators at equal
    FPR. Bisection on t, using that FPR grows with t."""
    low, high = float(np.min(prediction)) - 1e-9, float(np.max(prediction)) + 1e-9

    def shifted(t: float) -> dict[str, float]:
        # Moving the decision threshold from `threshold` to t is the same as shifting the predictions by it.
        return patch_metrics(prediction - t + threshold, target, mask, threshold)

    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if shifted(middle)["fpr"] > target_fpr:
            high = middle
        else:
            low = middle
    result = shifted(low)
    return {"decision_threshold": low, "recall": result["recall"], "fpr": result["fpr"]}
