"""The detectron2 backend: shipped detectron2 configs, parameter counts, a 2-iteration detectron2 training of B.

Skipped, with the reason, where detectron2 is not installed
(`python -m mobile_parsing_rcnn.detectron2_backend.install`).
"""

import dataclasses
import json
import sys

import pytest
import torch
from mobile_parsing_rcnn.detectron2_backend import INSTALL_HINT, detectron2_available
from shared_utils.testing import run_cli

if not detectron2_available():
    pytest.skip(INSTALL_HINT, allow_module_level=True)

from detectron2.modeling import build_model  # noqa: E402
from mobile_parsing_rcnn import params  # noqa: E402
from mobile_parsing_rcnn.config import load  # noqa: E402
from mobile_parsing_rcnn.detectron2_backend import modeling  # noqa: E402
from mobile_parsing_rcnn.detectron2_backend import params as d2_params  # noqa: E402
from mobile_parsing_rcnn.detectron2_backend.config import load_config, shipped_configs  # noqa: E402
from mobile_parsing_rcnn.models.heads import ConvFCBoxHead, ParsingHead  # noqa: E402
from mobile_parsing_rcnn.models.necks import BiFPN  # noqa: E402
from shared_utils.errors import InputError  # noqa: E402

# the shipped detectron2 config -> the torchvision path's config of the same model
SAME_MODEL = {"mprcnn_B": "thesis", "mprcnn_A": "variant_a", "mprcnn_B_cpu": "cpu"}


def test_shipped_configs_are_the_expected_ones():
    assert set(shipped_configs()) == set(SAME_MODEL)


@pytest.mark.parametrize("stem", sorted(SAME_MODEL))
def test_every_shipped_config_parses_on_densepose_base_and_matches_the_torchvision_config(stem):
    cfg = load_config(stem)
    ours = load(SAME_MODEL[stem]).model
    # from DensePose's Base-DensePose-RCNN-FPN.yaml
    assert cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN" and cfg.MODEL.DENSEPOSE_ON
    assert cfg.MODEL.RPN.IN_FEATURES == ["p2", "p3", "p4", "p5", "p6"]
    assert cfg.MODEL.ROI_HEADS.IN_FEATURES == ["p2", "p3", "p4", "p5"]
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1
    assert modeling.backbone_config(cfg) == dataclasses.replace(ours.backbone, weights_file=None)
    assert cfg.MODEL.NECK.TYPE == ours.neck.type and cfg.MODEL.FPN.OUT_CHANNELS == ours.neck.out_channels
    box = modeling.box_head_config(cfg, cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION)
    for name in ("num_conv", "conv_dim", "num_fc", "pooler_resolution"):
        assert getattr(box, name) == getattr(ours.box_head, name), name
    head = modeling.densepose_head_config(cfg)
    for name in ("name", "conv_head_dim", "num_stacked_convs", "conv_head_kernel", "aspp_on", "aspp_dim",
                 "aspp_dilations", "nonlocal_on"):
        assert getattr(head, name) == getattr(ours.densepose_head, name), name
    dp = cfg.MODEL.ROI_DENSEPOSE_HEAD
    assert dp.IN_FEATURES == ours.densepose_head.in_features
    assert dp.POOLER_RESOLUTION == ours.densepose_head.pooler_resolution
    assert dp.UP_SCALE == ours.densepose_head.up_scale and dp.DECONV_KERNEL == ours.densepose_head.deconv_kernel
    assert dp.HEATMAP_SIZE == 2 * dp.POOLER_RESOLUTION * dp.UP_SCALE
    assert [s[0] for s in cfg.MODEL.ANCHOR_GENERATOR.SIZES] == load(SAME_MODEL[stem]).model.rpn.anchor_sizes


def test_unknown_key_and_unknown_config_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="NOT_A_KEY"):
        load_config("mprcnn_B", ["MODEL.NOT_A_KEY", "1"])
    with pytest.raises(InputError, match="mprcnn_Z"):
        load_config("mprcnn_Z")
    bad = tmp_path / "bad.yaml"
    bad.write_text("_BASE_: Base-DensePose-RCNN-FPN.yaml\nMODEL:\n  ROI_DENSEPOSE_HEAD:\n    NO_SUCH: 3\n")
    with pytest.raises(InputError, match="NO_SUCH"):
        load_config(str(bad))


def test_densepose_base_resolves_from_a_config_anywhere(tmp_path):
    own = tmp_path / "elsewhere" / "mine.yaml"
    own.parent.mkdir()
    own.write_text("_BASE_: Base-DensePose-RCNN-FPN.yaml\nSOLVER:\n  BASE_LR: 0.123\n")
    cfg = load_config(str(own))
    assert cfg.SOLVER.BASE_LR == 0.123 and cfg.MODEL.ROI_HEADS.NAME == "DensePoseROIHeads"


@pytest.fixture(scope="module")
def built_b():
    cfg = load_config("mprcnn_B", ["MODEL.TIMMNETS.PRETRAINED", "False", "MODEL.DEVICE", "cpu"])
    return cfg, build_model(cfg)


def test_registered_parts_are_the_member_modules(built_b):
    _, model = built_b
    assert isinstance(model.backbone.backbone_with_neck.neck, BiFPN)
    assert isinstance(model.roi_heads.box_head, ConvFCBoxHead)
    assert isinstance(model.roi_heads.densepose_head, ParsingHead)
    assert model.roi_heads.densepose_head.aspp is not None
    # DensePose pools P2 only at 32 x 32, boxes P2-P5 at 7 x 7
    assert model.roi_heads.in_features == ["p2"] and model.roi_heads.box_in_features == ["p2", "p3", "p4", "p5"]
    assert len(model.roi_heads.densepose_pooler.level_poolers) == 1
    assert model.roi_heads.densepose_pooler.output_size == (32, 32)
    assert len(model.roi_heads.box_pooler.level_poolers) == 4


def test_inference_gives_64x64_densepose_charts(built_b):
    cfg, model = built_b
    model.eval()
    with torch.no_grad():
        features = model.backbone(torch.zeros(1, 3, 128, 160))
        assert {k: v.shape[-1] for k, v in features.items()} == {"p2": 40, "p3": 20, "p4": 10, "p5": 5, "p6": 3}
        pooled = torch.randn(2, 64, 32, 32)
        out = model.roi_heads.densepose_predictor(model.roi_heads.densepose_head(pooled))
    assert out.coarse_segm.shape == (2, 15, 64, 64) and out.fine_segm.shape == (2, 25, 64, 64)
    assert out.u.shape == out.v.shape == (2, 25, 64, 64)


def test_parameter_counts_within_two_percent_of_thesis_and_equal_to_torchvision_path():
    rows = {row["config"]: row for row in d2_params.parameter_table()}
    torchvision_rows = {row["config"]: row for row in params.parameter_table(["thesis", "variant_a"])}
    for stem, row in rows.items():
        assert abs(row["rel_diff"]) < 0.02, row
        same = torchvision_rows[d2_params.THESIS_CONFIG[stem]]
        assert row["breakdown"] == same["breakdown"], (row["breakdown"], same["breakdown"])
        assert sum(row["breakdown"].values()) / 1e6 == pytest.approx(row["ours_m"], abs=1e-4)


def test_two_iterations_of_detectron2_training_on_the_synthetic_people(tmp_path):
    out = tmp_path / "d2run"
    opts = ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
            "SYNTHETIC.NUM_TRAIN", "4", "SYNTHETIC.NUM_VAL", "2", "SYNTHETIC.HEIGHT", "96", "SYNTHETIC.WIDTH", "128",
            "SYNTHETIC.POINTS_PER_PERSON", "40", "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128",
            "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128", "OUTPUT_DIR", str(out)]
    result = run_cli([sys.executable, "-m", "mobile_parsing_rcnn.detectron2_backend.train_net", "--config-file",
                      "mprcnn_B_cpu", *opts], env={"OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    records = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    # detectron2 writes metrics every 20 iterations and after the last: iteration 1 is the second
    steps = [r for r in records if "total_loss" in r]
    assert [r["iteration"] for r in steps] == [1]
    for name in ("loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_densepose_I", "loss_densepose_S",
                 "loss_densepose_U", "loss_densepose_V"):
        assert all(torch.isfinite(torch.tensor(r[name])) for r in steps), name
    assert any("bbox/AP" in r for r in records), "no box AP after training"
    state = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    assert any(k.startswith("roi_heads.densepose_head.aspp.") for k in state)
    assert any(k.startswith("backbone.backbone_with_neck.neck.") for k in state)
