"""Same config, same seed -> the same metrics.json (minus provenance), in another run folder."""

from multi_neus.cli import main
from shared_utils.run import RunDir, metrics_without_provenance


def test_two_tiny_pipelines_with_the_same_seed_give_identical_metrics(tiny_run, tiny_dataset, tmp_path):
    second = tmp_path / "second"
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(second), f"data.root={tiny_dataset}"]) == 0
    first_metrics, second_metrics = RunDir(tiny_run).read_metrics(), RunDir(second).read_metrics()
    assert metrics_without_provenance(first_metrics) == metrics_without_provenance(second_metrics)
    assert first_metrics["provenance"]["config_sha256"] == second_metrics["provenance"]["config_sha256"]
    assert first_metrics["provenance"]["steps"] == second_metrics["provenance"]["steps"]


def test_another_seed_gives_other_metrics(tiny_run, tiny_dataset, tmp_path):
    other = tmp_path / "other"
    assert main(["train", "--config", "tiny", "--output-dir", str(other), f"data.root={tiny_dataset}", "seed=1",
                 "fit.stage1_steps=1", "fit.stage2_steps=0"]) == 0
    from shared_utils.io import load_checkpoint

    first = load_checkpoint(tiny_run / "meta" / "model.pt")["state_dict"]
    second = load_checkpoint(other / "meta" / "model.pt")["state_dict"]
    assert any(not (first[k] == second[k]).all() for k in first)
