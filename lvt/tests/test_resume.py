"""kill -9 loses nothing: a tiny pipeline killed right after its first periodic last.ckpt and started again with
the same command continues from that step and ends with the metrics of an uninterrupted run."""

import csv
import json
import os
import pathlib

import numpy as np
import yaml
from shared_utils.io import load_arrays, load_checkpoint, read_image, read_video
from shared_utils.run import metrics_without_provenance
from shared_utils.testing import console_script, kill_after_file, run_cli


def load_any(path: pathlib.Path) -> None:
    """Read a run-folder file with the reader of its format (raises when it is damaged)."""
    suffix = path.suffix.lower()
    if suffix in (".ckpt", ".pt"):
        load_checkpoint(path)
    elif suffix == ".json":
        json.loads(path.read_text())
    elif suffix == ".yaml":
        assert yaml.safe_load(path.read_text()) is not None
    elif suffix == ".png":
        assert read_image(path).size > 0
    elif suffix in (".gif", ".mp4"):
        assert len(read_video(path)) > 0
    elif suffix in (".npy", ".npz"):
        load_arrays(path)
    elif suffix == ".csv":
        with path.open() as handle:
            assert list(csv.reader(handle))
    elif suffix in (".md", ".html"):
        assert path.read_text().strip()
    else:  # TensorBoard event files: binary records, at least readable
        path.read_bytes()


def logged_steps(stage: pathlib.Path) -> list[int]:
    """Steps in the CSV log of the stage's latest logger version."""
    versions = sorted((stage / "logs" / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    with (versions[-1] / "metrics.csv").open() as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_killed_pipeline_resumes_and_matches_an_uninterrupted_run(tmp_path, tiny_reference_run):
    reference_run, reference = tiny_reference_run
    command = [console_script("lvt"), "pipeline", "--output-dir", str(tmp_path / "run"), "--config", "tiny"]
    env = {"THESIS_DATA_ROOT": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    vqvae = tmp_path / "run" / "vqvae"

    status = kill_after_file(command, vqvae / "checkpoints" / "last.ckpt", env=env)
    assert status == -9, "the pipeline ended before its first periodic checkpoint"
    assert not (vqvae / "weights.pt").exists(), "killed too late: the VQ-VAE stage had already finished"
    killed_at = load_checkpoint(vqvae / "checkpoints" / "last.ckpt")["global_step"]
    assert 0 < killed_at < 24

    resumed = run_cli(command, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert min(logged_steps(vqvae)) >= killed_at, "the VQ-VAE stage started again from step 0"

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["provenance"]["steps"] == reference["provenance"]["steps"]
    assert metrics_without_provenance(metrics) == metrics_without_provenance(reference)
    for name in ("vqvae", "transformer", "transformer_no_temporal"):
        ours = load_checkpoint(tmp_path / "run" / name / "weights.pt")["state_dict"]
        theirs = load_checkpoint(reference_run / name / "weights.pt")["state_dict"]
        assert all(np.array_equal(ours[key].numpy(), theirs[key].numpy()) for key in theirs), name

    # every file loads; atomic writes may leave hidden temporary files of the killed write behind, nothing else
    for path in sorted((tmp_path / "run").rglob("*")):
        if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".tmp")):
            load_any(path)
    assert os.access(tmp_path / "run" / "metrics.json", os.R_OK)
