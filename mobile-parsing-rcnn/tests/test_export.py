"""Export round trip: ONNX (run in onnxruntime) and TorchScript reproduce the eager DensePose graph."""

import pytest
import torch
from mobile_parsing_rcnn.config import load
from mobile_parsing_rcnn.export import (
    DensePoseGraph,
    example_inputs,
    export_onnx,
    export_torchscript,
    onnx_max_abs_diff,
)
from mobile_parsing_rcnn.models.detector import build_model

ONNX_TOLERANCE = 1e-3  # absolute, on logits and U/V of order 1


@pytest.fixture(scope="module")
def graph():
    cfg = load("thesis", ["model.backbone.pretrained=false"])
    torch.manual_seed(0)
    return DensePoseGraph(build_model(cfg.model, cfg.loss).eval()).eval()


def test_onnx_round_trip_matches_eager(graph, tmp_path):
    path = export_onnx(graph, tmp_path / "g.onnx", example_inputs(128, 160))
    # other image size and box count than at export time: dynamic axes
    assert onnx_max_abs_diff(graph, path, example_inputs(96, 192, num_boxes=4, seed=2)) < ONNX_TOLERANCE


def test_torchscript_round_trip_matches_eager(graph, tmp_path):
    inputs = example_inputs(128, 160)
    path = export_torchscript(graph, tmp_path / "g.pt", inputs)
    loaded = torch.jit.load(str(path))
    other = example_inputs(128, 160, num_boxes=2, seed=5)
    with torch.no_grad():
        for a, b in zip(loaded(*other), graph(*other), strict=False):
            assert torch.allclose(a, b, atol=1e-5)


def test_graph_agrees_with_the_detector_head():
    cfg = load("thesis", ["model.backbone.pretrained=false"])
    torch.manual_seed(1)
    model = build_model(cfg.model, cfg.loss).eval()
    graph = DensePoseGraph(model).eval()
    image = torch.rand(1, 3, 128, 128)
    boxes = torch.tensor([[8.0, 8.0, 100.0, 120.0], [30.0, 2.0, 90.0, 60.0]])
    with torch.no_grad():
        ours = graph(image, boxes)
        images = model.preprocess([image[0]])
        ref = model.roi_heads.densepose_forward(model.backbone(images.tensors), [boxes], images.image_sizes)
    for a, b in zip(ours, ref, strict=False):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-4)


def test_int8_head_stays_close_to_float(graph):
    from mobile_parsing_rcnn.export import quantize_int8

    calibration = [example_inputs(128, 160, seed=s) for s in range(3)]
    quantized = quantize_int8(graph, calibration)
    other = example_inputs(128, 160, num_boxes=4, seed=9)
    with torch.no_grad():
        ref, out = graph(*other), quantized(*other)
    for q, r in zip(out, ref, strict=False):
        assert q.shape == r.shape
        assert float((q - r).abs().max()) < 0.1 * float(r.abs().max())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in quantized.head.modules())  # really int8 modules


def test_whole_graph_int8_onnx_is_written_quantised_and_close_to_float(graph, tmp_path):
    import onnx
    from mobile_parsing_rcnn.export import ort_session, quantize_onnx_int8

    fp32 = export_onnx(graph, tmp_path / "g.onnx", example_inputs(128, 160))
    calibration = [example_inputs(128, 160, seed=s) for s in range(3)]
    int8 = quantize_onnx_int8(fp32, tmp_path / "g.int8.onnx", calibration)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # the backbone's convolutions are quantised too, not only the head's: int8 weights are a quarter of the size
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size
    other = example_inputs(128, 160, num_boxes=4, seed=9)
    out = ort_session(int8, threads=1).run(None, {"image": other[0].numpy(), "boxes": other[1].numpy()})
    with torch.no_grad():
        ref = graph(*other)
    for q, r in zip(out, ref, strict=False):
        assert q.shape == tuple(r.shape)
        assert float(abs(torch.from_numpy(q) - r).max()) < 0.25 * float(r.abs().max())
