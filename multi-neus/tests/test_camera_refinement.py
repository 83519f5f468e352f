"""Camera refinement of a fit: fx/fy focal coefficients and se(3) corrections, carried from stage 1 into stage 2."""

import numpy as np
import torch
from multi_neus.config import load
from multi_neus.data.scene import load_split
from multi_neus.geometry.rays import camera_rays
from multi_neus.lightning import SceneFitter
from multi_neus.models.multi_neus import MultiNeuS
from multi_neus.train import fit_multineus


def test_focal_coefficients_scale_fx_and_fy_separately():
    k = torch.tensor([[100.0, 0, 32], [0, 80.0, 24], [0, 0, 1]])
    pixel = torch.tensor([[52.0, 44.0]])
    log_coefficients = torch.log(torch.tensor([[1.5, 0.8]]))
    _, direction = camera_rays(pixel, k[None], torch.eye(4)[None], None, log_coefficients)
    # Independent: the camera-frame ray through (u, v) of K' = diag(1.5 fx, 0.8 fy).
    expected = np.array([(52 - 32) / 150.0, (44 - 24) / 64.0, 1.0])
    assert np.allclose(direction[0].numpy(), expected / np.linalg.norm(expected), atol=1e-6)


def test_stage_two_fitter_starts_from_the_given_corrections():
    cfg = load("tiny", ["fit.cameras.enabled=true"])
    pose, focal = torch.randn(2, 6) * 0.01, torch.randn(2, 2) * 0.01
    fitter = SceneFitter(cfg, MultiNeuS(cfg, 1), "all", 2, 5, (pose, focal))
    assert torch.equal(fitter.pose_correction.data, pose) and torch.equal(fitter.log_focal_correction.data, focal)
    fresh = SceneFitter(cfg, MultiNeuS(cfg, 1), "scene", 2, 5)
    assert not fresh.pose_correction.data.any() and not fresh.log_focal_correction.data.any()


def test_fit_keeps_the_stage_one_camera_in_stage_two(tiny_dataset, tmp_path):
    from multi_neus.train import meta_learn

    lr = 0.01
    cfg = load("tiny", ["fit.cameras.enabled=true", f"fit.cameras.lr={lr}", "fit.stage1_steps=8",
                        "fit.stage1_decay_step=100", "fit.stage2_steps=1"])
    meta = meta_learn(cfg, load_split(tiny_dataset, "train"), tmp_path / "meta")
    scene = load_split(tiny_dataset, "test")[0].subset([0])
    stages, _ = fit_multineus(cfg, meta.model, scene, tmp_path / "fit")
    first, second = stages[0].corrections, stages[1].corrections
    moved_in_stage_one = max(first[0].abs().max(), first[1].abs().max())
    # Eight Adam steps moved the camera well beyond what the one stage-2 step could undo or redo from zero.
    assert moved_in_stage_one > 2.5 * lr
    # Stage 2 ran one Adam step (at most lr per coordinate) from where stage 1 ended; restarted at zero it would
    # end at most lr from zero, more than 1.5 lr away from the stage-1 camera.
    for a, b in zip(first, second, strict=True):
        assert (b - a).abs().max() <= lr * 1.001
