"""Same config, same seed, same numbers: a second tiny run (in this process, with its own freshly rendered data)
reproduces the reference tiny run (a separate process) exactly, weights included."""

import torch
from mobile_parsing_rcnn.cli import main
from shared_utils.io import load_checkpoint
from shared_utils.run import RunDir, metrics_without_provenance


def test_two_runs_with_the_same_seed_give_identical_metrics_and_weights(tiny_run, tmp_path, capsys):
    again = RunDir(tmp_path / "again")
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(again.path)]) == 0
    reference = RunDir(tiny_run)
    assert metrics_without_provenance(again.read_metrics()) == metrics_without_provenance(reference.read_metrics())
    ours, theirs = (load_checkpoint(r.last_checkpoint)["state_dict"] for r in (again, reference))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
