"""Same config, same seed -> the same metrics.json, provenance (wall time, machine) aside."""

import json

from def_sharp.cli import main
from shared_utils.run import RunDir, metrics_without_provenance


def test_two_tiny_runs_give_identical_metrics(tiny_reference, tmp_path, monkeypatch):
    reference, data_root = tiny_reference
    monkeypatch.setenv("THESIS_DATA_ROOT", str(data_root))
    second = RunDir(tmp_path / "second")
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(second.path)]) == 0
    first_metrics, second_metrics = RunDir(reference).read_metrics(), second.read_metrics()
    assert metrics_without_provenance(second_metrics) == metrics_without_provenance(first_metrics)
    assert second_metrics["provenance"]["steps"] == {"train": 8}
    assert second_metrics["provenance"]["config_sha256"] == first_metrics["provenance"]["config_sha256"]
    # The training curves match too, not only the end point.
    logged = [json.dumps(sorted((RunDir(run).logs / "csv" / "version_0" / "metrics.csv").read_text().splitlines()))
              for run in (reference, second.path)]
    assert logged[0] == logged[1]
