import numpy as np
import pytest
from def_sharp.metrics import patch_metrics, point_metrics


def test_patch_metrics_by_hand():
    target = np.array([[[0.0, 0.01, 0.5, 0.5]], [[0.5, 0.5, 0.5, 0.5]]])
    prediction = np.array([[[0.01, 0.3, 0.01, 0.5]], [[0.5, 0.5, 0.5, 0.0]]])
    mask = np.ones_like(target, dtype=bool)
    metrics = patch_metrics(prediction, target, mask, threshold=0.02)
    rmse_1 = np.sqrt((0.01**2 + 0.29**2 + 0.49**2) / 4)
    rmse_2 = np.sqrt(0.5**2 / 4)
    assert metrics["rmse"] == pytest.approx((rmse_1 + rmse_2) / 2)
    assert metrics["rmse_q95"] == pytest.approx(np.quantile([rmse_1, rmse_2], 0.95))
    assert metrics["recall"] == pytest.approx(0.5)  # only patch 1 has positives: 1 of 2 found
    assert metrics["fpr"] == pytest.approx((1 / 2 + 1 / 4) / 2)  # averaged over both patches' negatives


def test_masked_pixels_and_empty_patches_are_ignored():
    target = np.zeros((2, 2, 2))
    prediction = np.ones((2, 2, 2))
    mask = np.zeros((2, 2, 2), dtype=bool)
    mask[0, 0, 0] = True
    prediction[0, 0, 0] = 0.0
    metrics = patch_metrics(prediction, target, mask, 0.02)
    assert metrics["rmse"] == 0.0 and metrics["recall"] == 1.0 and np.isnan(metrics["fpr"])


def test_point_metrics_quantile_of_absolute_errors_and_average_precision_direction():
    target = np.array([0.0, 0.0, 0.5, 0.5])
    perfect = point_metrics(target, target, 0.02)
    assert perfect["rmse"] == 0 and perfect["average_precision"] == pytest.approx(1.0)
    inverted = point_metrics(1.0 - target, target, 0.02)  # sharp points predicted far: AP must be poor
    assert inverted["average_precision"] < 0.6
    errors = point_metrics(target + np.array([0.0, 0.1, 0.2, 0.4]), target, 0.02)
    assert errors["abs_error_q95"] == pytest.approx(np.quantile([0.0, 0.1, 0.2, 0.4], 0.95))


def test_recall_at_fpr_moves_the_decision_threshold():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 0.2, size=(4, 16, 16))
    prediction = target + rng.normal(0, 0.02, size=target.shape)
    mask = np.ones_like(target, dtype=bool)
    from def_sharp.metrics import recall_at_fpr

    strict = recall_at_fpr(prediction, target, mask, 0.02, target_fpr=0.001)
    loose = recall_at_fpr(prediction, target, mask, 0.02, target_fpr=0.05)
    assert strict["fpr"] <= 0.001 + 1e-12 and loose["fpr"] <= 0.05 + 1e-12
    assert loose["recall"] > strict["recall"]
    shifted = patch_metrics(prediction - loose["decision_threshold"] + 0.02, target, mask, 0.02)
    assert shifted["recall"] == pytest.approx(loose["recall"])
