import pytest
import torch
from def_sharp.losses.histogram import (
    HistogramSpec,
    expected_distance,
    histogram_loss,
    histogram_target,
    regression_loss,
)

SPEC = HistogramSpec(n_bins=240, margin_bins=2, truncation=1.0, sigma_bins=1.0)


def test_spec_layout():
    assert SPEC.n_outputs == 244
    edges = SPEC.edges(dtype=torch.float64)
    assert edges[0].item() == pytest.approx(-2 / 240) and edges[-1].item() == pytest.approx(1 + 2 / 240)


def test_target_sums_to_one_and_expectation_recovers_distance():
    distance = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    target = histogram_target(distance, SPEC)
    assert target.shape == (101, 244)
    assert torch.allclose(target.sum(-1), torch.ones(101, dtype=torch.float64))
    expectation = (target * SPEC.centres(dtype=torch.float64)).sum(-1)
    interior = (distance > 0.03) & (distance < 0.97)  # > 7 sigma from the histogram ends: no truncation bias
    assert torch.allclose(expectation[interior], distance[interior], atol=1e-9)
    assert torch.allclose(expectation, distance, atol=2e-3)  # near the ends the margin bins keep the bias small


def test_expected_distance_of_target_logits_recovers_distance():
    distance = torch.tensor([0.1, 0.37, 0.8], dtype=torch.float64)
    logits = histogram_target(distance, SPEC).clamp_min(1e-300).log()  # softmax(log p) = p
    assert torch.allclose(expected_distance(logits, SPEC, dim=-1), distance, atol=1e-9)


def test_loss_is_zero_at_target_and_positive_elsewhere():
    distance = torch.rand(2, 4, 4, dtype=torch.float64)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    perfect = histogram_target(distance, SPEC).clamp_min(1e-300).log().movedim(-1, 1)
    assert histogram_loss(perfect, distance, mask, SPEC).item() == pytest.approx(0.0, abs=1e-9)
    assert histogram_loss(torch.zeros_like(perfect), distance, mask, SPEC).item() > 1.0


def test_loss_gradcheck_and_mask():
    distance = torch.rand(1, 3, 3, dtype=torch.float64)
    mask = torch.rand(1, 3, 3) > 0.3
    logits = torch.randn(1, 244, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: histogram_loss(x, distance, mask, SPEC), (logits,))
    loss = histogram_loss(logits, distance, mask, SPEC)
    loss.backward()
    assert torch.all(logits.grad[0, :, ~mask[0]] == 0)


def test_regression_loss_is_masked_mse():
    prediction = torch.tensor([[[0.5, 0.0]]])
    target = torch.tensor([[[0.0, 1.0]]])
    mask = torch.tensor([[[True, False]]])
    assert regression_loss(prediction, target, mask).item() == pytest.approx(0.25)
