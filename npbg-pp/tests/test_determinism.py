"""Same config, same seed: identical metrics.json (provenance aside); data generated concurrently stays intact."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
from shared_utils.io import load_arrays, load_json
from shared_utils.run import RunDir, metrics_without_provenance

from npbgpp.cli import main
from npbgpp.config import load
from npbgpp.data import synthetic
from npbgpp.data.datasets import scene_names
from npbgpp.data.synthetic import generate_scene, synthetic_scene_names

FAST = ["trainer.max_steps=3", "eval.run_baseline=false"]


def test_two_runs_with_the_same_seed_give_identical_metrics(tmp_path):
    runs = [RunDir(tmp_path / name) for name in ("first", "second")]
    for run in runs:
        assert main(["pipeline", "--config", "tiny", "--output-dir", str(run.path), *FAST]) == 0
    first, second = (metrics_without_provenance(run.read_metrics()) for run in runs)
    assert first == second
    assert runs[0].read_metrics()["provenance"]["config_sha256"] == runs[1].read_metrics()["provenance"][
        "config_sha256"]


def test_eval_repeats_the_pipelines_numbers(tmp_path):
    """ft and the per-scene baseline are fitted again by `eval`: their random starts depend on the seed only, not
    on what ran before them in the process (in `pipeline`, the training)."""
    run = RunDir(tmp_path / "run")
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(run.path), "trainer.max_steps=3"]) == 0
    after_pipeline = metrics_without_provenance(run.read_metrics())
    assert "per_scene_baseline" in after_pipeline
    assert main(["eval", "--run-dir", str(run.path)]) == 0
    assert metrics_without_provenance(run.read_metrics()) == after_pipeline


def test_another_seed_gives_other_metrics(tmp_path):
    runs = [RunDir(tmp_path / name) for name in ("seed0", "seed1")]
    for seed, run in enumerate(runs):
        assert main(["pipeline", "--config", "tiny", "--output-dir", str(run.path), f"seed={seed}", *FAST]) == 0
    assert runs[0].read_metrics()["npbgpp"] != runs[1].read_metrics()["npbgpp"]


def _generate(root: str, generated) -> None:
    """Child process: make the tiny data set, reporting every scene it generated itself."""
    os.environ["THESIS_DATA_ROOT"] = root
    original = synthetic.generate_scene

    def counted(name, *args):
        generated.put(name)
        return original(name, *args)

    synthetic.generate_scene = counted
    scene_names(load("tiny"))


def test_concurrent_generation_into_one_data_root(tmp_path):
    """Two processes generate the same data root at once: the lock lets one generate while the other waits and then
    reuses its files (each scene generated once), and atomic renames leave every scene whole and equal to a scene
    generated alone."""
    root = tmp_path / "shared-data"
    context = multiprocessing.get_context("fork")
    generated = context.Queue()
    processes = [context.Process(target=_generate, args=(str(root), generated)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
        assert process.exitcode == 0
    names = []
    while not generated.empty():
        names.append(generated.get())
    cfg = load("tiny")
    folder = root / "npbg" / "synthetic"
    train, holdout = synthetic_scene_names(cfg.data.synthetic)
    assert sorted(names) == sorted(train + holdout), "a scene was generated twice (or not at all)"
    assert sorted(p.name for p in folder.glob("*.npz")) == sorted(f"{name}.npz" for name in train + holdout)
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"
    assert load_json(folder / "manifest.json")["holdout_scenes"] == holdout
    alone = generate_scene(holdout[0], 500 + len(train), cfg.data.synthetic)
    stored = load_arrays(folder / f"{holdout[0]}.npz")
    np.testing.assert_array_equal(stored["points"], alone.points.numpy())
