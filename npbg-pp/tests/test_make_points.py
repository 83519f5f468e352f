"""make-points: a cloud from posed images. On the real NeRF-Synthetic lego sample the carved cloud must project onto
the foreground of frames that took no part in carving; depth maps are back-projected exactly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from npbgpp_layouts import write_dtu
from shared_utils.cameras import project
from shared_utils.io import read_point_cloud
from shared_utils.testing import assert_clean_error, run_main

from npbgpp.cli import main
from npbgpp.config import PointsConfig
from npbgpp.data.points import read_silhouettes, surface_voxels

LEGO = Path(__file__).resolve().parents[2] / "../shared/data/nerf_synthetic/lego"
HOLDOUT_EVERY = 8


def _lego_with_holdout_split(folder: Path) -> Path:
    """The sample's train split divided into train (7 of 8 frames) and test (every 8th frame), images linked."""
    meta = json.loads((LEGO / "transforms_train.json").read_text())
    folder.mkdir()
    os.symlink(LEGO.resolve() / "train", folder / "train")
    for split, keep in (("train", lambda i: i % HOLDOUT_EVERY), ("test", lambda i: not i % HOLDOUT_EVERY)):
        frames = [frame for index, frame in enumerate(meta["frames"]) if keep(index)]
        (folder / f"transforms_{split}.json").write_text(json.dumps({**meta, "frames": frames}))
    return folder


@pytest.mark.skipif(not LEGO.is_dir(), reason=f"the real lego sample is absent ({LEGO})")
def test_carved_lego_cloud_projects_onto_the_foreground_of_holdout_frames(tmp_path, capsys):
    scene = _lego_with_holdout_split(tmp_path / "lego")
    out = tmp_path / "lego_points.ply"
    assert main(["make-points", "--scene-dir", str(scene), "--out", str(out), "points.resolution=96",
                 "points.coarse_resolution=32"]) == 0
    points = torch.from_numpy(read_point_cloud(out).points)
    assert len(points) > 10_000
    silhouettes = read_silhouettes(scene, PointsConfig())
    holdout = torch.nonzero(silhouettes.holdout).flatten().tolist()
    assert len(holdout) == 13
    for index in holdout:
        uv, depth = project(points, silhouettes.intrinsics[index], silhouettes.w2c[index])
        column, row = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        inside = (depth > 0) & (column >= 0) & (column < 200) & (row >= 0) & (row < 200)
        on_foreground = torch.zeros(len(points), dtype=torch.bool)
        on_foreground[inside] = silhouettes.masks[index][row[inside], column[inside]]
        assert float(on_foreground.float().mean()) >= 0.95, f"hold-out frame {index}"


def test_surface_voxels_of_a_solid_cube_are_its_shell():
    occupied = torch.zeros(6, 6, 6, dtype=torch.bool)
    occupied[1:5, 1:5, 1:5] = True
    shell = surface_voxels(occupied)
    assert int(shell.sum()) == 4**3 - 2**3 and not bool(shell[2:4, 2:4, 2:4].any())


def test_depth_maps_are_back_projected_onto_their_pixels(tmp_path, tiny_scene):
    folder = write_dtu(tiny_scene, tmp_path / "scan24")
    (folder / "depth").mkdir()
    depth = np.full((32, 32), 2.5, dtype=np.float32)
    depth[:4] = 0.0  # unknown depth: no point
    for index in range(len(tiny_scene.images)):
        np.save(folder / "depth" / f"{index:03d}.npy", depth)
    out = tmp_path / "points.ply"
    assert main(["make-points", "--scene-dir", str(folder), "--out", str(out), "points.holdout_frame_ids=[1]",
                 "points.max_points=null"]) == 0
    points = torch.from_numpy(read_point_cloud(out).points)
    assert len(points) == (len(tiny_scene.images) - 1) * 28 * 32
    uv, z = project(points[: 28 * 32], tiny_scene.intrinsics[0], tiny_scene.w2c[0])
    torch.testing.assert_close(z, torch.full_like(z, 2.5), atol=1e-4, rtol=0)
    v, u = torch.meshgrid(torch.arange(4, 32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    torch.testing.assert_close(uv, torch.stack([u, v], -1).reshape(-1, 2), atol=1e-3, rtol=0)


def test_a_folder_of_neither_layout_is_refused(tmp_path, capsys):
    argv = ["make-points", "--scene-dir", str(tmp_path), "--out", str(tmp_path / "p.ply")]
    assert_clean_error(run_main(main, argv, capsys), "transforms_*.json")
