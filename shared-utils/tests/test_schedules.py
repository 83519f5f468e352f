import math

import pytest
import torch
from shared_utils.schedules import warmup_cosine_factor, warmup_cosine_scheduler


class TestWarmupCosine:
    def test_values(self):
        assert warmup_cosine_factor(0, 4, 20) == pytest.approx(0.25)
        assert warmup_cosine_factor(3, 4, 20) == pytest.approx(1.0)
        assert warmup_cosine_factor(20, 4, 20) == pytest.approx(0.0)
        assert warmup_cosine_factor(100, 4, 20, floor=0.1) == pytest.approx(0.1)
        assert warmup_cosine_factor(12, 4, 20) == pytest.approx(0.5)

    @pytest.mark.filterwarnings("ignore:Detected call of")
    def test_matches_torch_cosine_annealing_after_warmup(self):
        """After the warm-up the schedule is torch's CosineAnnealingLR over the remaining steps (an independent
        implementation of the same closed form)."""
        warmup, total, base, floor = 5, 50, 0.2, 0.05
        ours = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        scheduler = warmup_cosine_scheduler(ours, warmup, total, floor)
        reference = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=total - warmup, eta_min=base * floor)
        for _ in range(warmup):
            scheduler.step()
        for _ in range(total - warmup):
            assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
            scheduler.step()
            reference.step()

    def test_warmup_is_linear(self):
        values = [warmup_cosine_factor(s, 10, 100) for s in range(10)]
        assert values == pytest.approx([(s + 1) / 10 for s in range(10)])
        assert all(math.isfinite(v) for v in values)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="total_steps > 0"):
            warmup_cosine_factor(0, 0, 0)
