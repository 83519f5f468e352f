import math

import pytest
import torch
from lvt.modules import lr_factor


def test_warmup_is_linear_and_reaches_one():
    assert [lr_factor(s, 4, 100) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lr_factor(4, 4, 100) == pytest.approx(1.0)


def test_decay_matches_torch_cosine_annealing():
    warmup, total = 5, 45
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=0.0)
    for step in range(warmup, total + 1):
        assert lr_factor(step, warmup, total) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-9)
        optimizer.step()
        cosine.step()


def test_decay_ends_at_zero_and_stays_there():
    assert lr_factor(100, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(150, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
