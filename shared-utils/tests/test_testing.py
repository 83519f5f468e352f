"""The members' shared test helpers: every broken config is refused by the config loader with the promised
mention, and the run-folder reader opens each file kind and refuses damaged ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from shared_utils.config import load_config, packaged_config
from shared_utils.errors import InputError
from shared_utils.io import atomic_torch_save, save_json, write_image
from shared_utils.io.geometry import write_line_set, write_mesh, write_point_cloud
from shared_utils.testing import BROKEN_CONFIG_CASES, broken_config, load_run_files, truncated_copy
from shared_utils.training import TrainerConfig


@dataclass
class MemberLikeConfig:
    seed: int = 0
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(name_or_path):
    # a member's `config.load`: a shipped name (this package ships none) or a path
    return load_config(MemberLikeConfig, packaged_config("shared_utils", str(name_or_path)))


@pytest.mark.parametrize("case", BROKEN_CONFIG_CASES)
def test_every_broken_config_is_refused_naming_what_is_wrong(case, tmp_path):
    value, named = broken_config(tmp_path, case)
    with pytest.raises(InputError) as error:
        load(value)
    assert named in str(error.value)


def test_unknown_key_is_written_nested(tmp_path):
    value, named = broken_config(tmp_path, "unknown-key", unknown_key="trainer.schedule.warmup")
    assert named == "trainer.schedule.warmup"
    assert open(value).read() == "trainer:\n  schedule:\n    warmup: 3\n"


def test_broken_config_rejects_an_unknown_case(tmp_path):
    with pytest.raises(KeyError):
        broken_config(tmp_path, "no-such-case")


@pytest.fixture
def run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "pictures").mkdir()
    atomic_torch_save({"state_dict": {"w": torch.ones(2)}}, run / "checkpoints" / "last.ckpt")
    save_json({"psnr": 20.0}, run / "metrics.json")
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "metrics.csv").write_text("step,loss\n1,0.5\n")
    (run / "results.md").write_text("| a |\n")
    write_image(run / "pictures" / "grid.png", np.zeros((4, 4, 3)))
    write_point_cloud(run / "pictures" / "cloud.ply", np.random.default_rng(0).random((10, 3)))
    box_vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    write_mesh(run / "pictures" / "mesh.ply", box_vertices, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    write_line_set(run / "pictures" / "curves.ply", box_vertices, [[0, 1], [2, 3]])
    np.save(run / "distances.npy", np.ones(3))
    (run / ".data.lock").write_bytes(b"")
    return run


def test_load_run_files_reads_every_kind(run_folder):
    names = sorted(p.name for p in load_run_files(run_folder))
    assert names == ["cloud.ply", "config.yaml", "curves.ply", "distances.npy", "grid.png", "last.ckpt", "mesh.ply",
                     "metrics.csv", "metrics.json", "results.md"]


@pytest.mark.parametrize("damaged", ["checkpoints/last.ckpt", "metrics.json", "pictures/grid.png",
                                     "pictures/mesh.ply", "distances.npy"])
def test_load_run_files_refuses_a_truncated_file(damaged, run_folder, tmp_path):
    target = run_folder / damaged
    target.write_bytes(truncated_copy(target, tmp_path, 0.3).read_bytes())
    with pytest.raises((InputError, AssertionError, ValueError, json.JSONDecodeError, OSError)):
        load_run_files(run_folder)


def test_load_run_files_skips_hidden_temporaries_and_refuses_unknown_kinds(run_folder):
    (run_folder / ".metrics.json.x1y2.tmp").write_bytes(b"{half")  # a write killed before its rename
    assert len(load_run_files(run_folder)) == 10
    (run_folder / "notes.pkl").write_bytes(b"x")
    with pytest.raises(AssertionError, match="no reader"):
        load_run_files(run_folder)


def test_load_run_files_refuses_an_empty_file(run_folder):
    (run_folder / "results.md").write_bytes(b"")
    with pytest.raises(AssertionError, match="empty file"):
        load_run_files(run_folder)
