"""Same config and seed, same numbers: two tiny runs give identical metrics.json apart from provenance."""

import json

from lvt.cli import main
from shared_utils.run import metrics_without_provenance


def test_two_tiny_runs_with_one_seed_give_identical_metrics(tmp_path, tiny_reference_run, monkeypatch):
    _, reference = tiny_reference_run
    monkeypatch.setenv("CI", "true")
    assert main(["pipeline", "--output-dir", str(tmp_path / "again"), "--config", "tiny"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert metrics_without_provenance(again) == metrics_without_provenance(reference)
    assert again["provenance"]["steps"] == reference["provenance"]["steps"]
    assert again["provenance"]["config_sha256"] == reference["provenance"]["config_sha256"]


def test_training_order_resumes_mid_epoch_and_depends_on_the_seed():
    from lvt.data.order import ResumableShuffle

    step = 0
    order = ResumableShuffle(10, 3, seed=0, completed_steps=lambda: step)
    epoch0 = list(order)
    assert len(epoch0) == 9 and len(set(epoch0)) == 9
    step = 2  # resumed after two batches: the third batch of the same permutation
    assert list(order) == epoch0[6:]
    step = 3  # next epoch: another permutation
    assert list(order) != epoch0
    step = 0
    assert list(ResumableShuffle(10, 3, seed=1, completed_steps=lambda: step)) != epoch0
