"""Deployment: TorchScript and ONNX export (checked in onnxruntime against eager) and int8 post-training quantisation.

The exported graph is the dense part of the network, ``DensePoseGraph(image, boxes)``: backbone + neck and the
DensePose RoI head for given boxes, returning coarse segmentation, fine-part logits, U and V per box. Proposal
generation, box NMS and scoring stay in eager torchvision (they hold data-dependent control flow).

Two int8 forms: torch FX quantisation of the DensePose head only (timm's backbone collects its features with forward
hooks, which FX tracing drops), and ONNX Runtime static quantisation of the whole exported graph (backbone, neck and
head: every Conv/MatMul/Add ORT has an int8 kernel for, QDQ format, per-channel weights), written to disk and run
in ONNX Runtime.
"""

from __future__ import annotations

import copy
import logging
import pathlib
import time

import numpy as np
import torch
from shared_utils.errors import InputError
from shared_utils.io import save_json
from shared_utils.runtime import use_threads
from torch import nn
from torchvision.ops import roi_align

from .config import Config
from .models.backbone import freeze_batch_norm
from .models.detector import MobileParsingRCNN, build_model

log = logging.getLogger(__name__)
LEVEL_STRIDE = {"p2": 4, "p3": 8, "p4": 16, "p5": 32}


class DensePoseGraph(nn.Module):
    """image (1, 3, H, W) in [0, 1] with H, W divisible by 32, boxes (N, 4) xyxy -> (coarse, fine, u, v)."""

    def __init__(self, model: MobileParsingRCNN):
        super().__init__()
        d = model.cfg.densepose_head
        if len(d.in_features) != 1:
            raise InputError("export supports DensePose heads pooling from one level (the thesis's P2)")
        # eval-mode batch norms as frozen ones: same numbers, and timm's BatchNormAct2d then exports correctly
        self.backbone = freeze_batch_norm(copy.deepcopy(model.backbone))
        self.head = model.roi_heads.densepose_head
        self.predictor = model.roi_heads.densepose_predictor
        self.level = d.in_features[0]
        self.scale = 1.0 / LEVEL_STRIDE[self.level]
        self.resolution = d.pooler_resolution
        self.sampling_ratio = d.pooler_sampling_ratio
        self.register_buffer("pixel_mean", model.pixel_mean.clone())
        self.register_buffer("pixel_std", model.pixel_std.clone())

    def pool(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        features = self.backbone((image - self.pixel_mean) / self.pixel_std)[self.level]
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], dim=1)
        return roi_align(features, rois, self.resolution, self.scale, self.sampling_ratio, aligned=False)

    def forward(self, image: torch.Tensor, boxes: torch.Tensor):
        return self.predictor(self.head(self.pool(image, boxes)))


def example_inputs(height: int = 192, width: int = 256, num_boxes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=g)
    x0 = torch.rand(num_boxes, generator=g) * width * 0.5
    y0 = torch.rand(num_boxes, generator=g) * height * 0.5
    boxes = torch.stack([x0, y0, x0 + width * 0.3 + 8, y0 + height * 0.4 + 8], dim=1)
    return image, boxes


def export_onnx(graph: DensePoseGraph, path, inputs) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph, inputs, str(path), input_names=["image", "boxes"],
                      output_names=["coarse_segm", "fine_segm", "u", "v"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {2: "height", 3: "width"}, "boxes": {0: "num_boxes"},
                                    "coarse_segm": {0: "num_boxes"}, "fine_segm": {0: "num_boxes"},
                                    "u": {0: "num_boxes"}, "v": {0: "num_boxes"}})
    return path


def onnx_max_abs_diff(graph: DensePoseGraph, path, inputs) -> float:
    """Largest absolute difference between onnxruntime and eager outputs on ``inputs``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {"image": inputs[0].numpy(), "boxes": inputs[1].numpy()})
    with torch.no_grad():
        eager = graph(*inputs)
    return max(float(np.abs(o - e.numpy()).max()) for o, e in zip(ort_out, eager, strict=False))


def export_torchscript(graph: DensePoseGraph, path, inputs) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        traced = torch.jit.trace(graph, inputs, check_trace=False)
    traced.save(str(path))
    return path


def quantize_int8(graph: DensePoseGraph, calibration: list[tuple[torch.Tensor, torch.Tensor]]) -> DensePoseGraph:
    """Static int8 post-training quantisation (FX graph mode, x86/fbgemm) of the DensePose RoI head (ASPP + convs),
    calibrated on RoI features of ``calibration`` (image, boxes) pairs.

    Stays float: the backbone (timm collects its expansion features with forward hooks, which FX tracing drops) and
    the transposed-conv predictor (its per-channel int8 weights disagree with float by more than the outputs' range
    with torch's default x86 qconfig).
    """
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    graph = copy.deepcopy(graph).eval()
    with torch.no_grad():
        pooled = [graph.pool(image, boxes) for image, boxes in calibration]
        prepared = prepare_fx(graph.head, get_default_qconfig_mapping("x86"), example_inputs=(pooled[0],))
        for x in pooled:
            prepared(x)
    graph.head = convert_fx(prepared)
    return graph


def quantize_onnx_int8(onnx_path, output_path, calibration) -> pathlib.Path:
    """Static int8 quantisation of the whole exported graph by ONNX Runtime, calibrated (min-max) on ``calibration``
    (image, boxes) pairs; written to ``output_path``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"image": image.numpy(), "boxes": boxes.numpy()} for image, boxes in calibration])

        def get_next(self):
            return next(self.feeds, None)

    output_path = pathlib.Path(output_path)
    # shape inference and graph optimisation first, as ONNX Runtime's quantiser asks
    prepared = output_path.with_name(f".{output_path.stem}.prepared.onnx")
    try:
        quant_pre_process(str(onnx_path), str(prepared))
        quantize_static(str(prepared), str(output_path), Calibration(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)
    return output_path


def ort_session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_latency_ms(session, inputs, repeats: int = 3) -> float:
    feed = {"image": inputs[0].numpy(), "boxes": inputs[1].numpy()}
    session.run(None, feed)
    start = time.perf_counter()
    for _ in range(repeats):
        session.run(None, feed)
    return 1000 * (time.perf_counter() - start) / repeats


def _latency_ms(fn, inputs, repeats: int = 3) -> float:
    with torch.no_grad():
        fn(*inputs)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(*inputs)
    return 1000 * (time.perf_counter() - start) / repeats


def export_run(cfg: Config, output_dir, checkpoint=None) -> dict:
    """Export the (trained or random) model to TorchScript and ONNX, verify ONNX, quantise; write a report JSON."""
    output_dir = pathlib.Path(output_dir)
    if checkpoint:
        from .lightning import load_trained

        model = load_trained(checkpoint).model
    else:
        model = build_model(cfg.model, cfg.loss)
    model.eval()
    graph = DensePoseGraph(model).eval()
    height = -(-cfg.data.min_size_test // 32) * 32
    width = -(-cfg.data.max_size_test // 32) * 32
    inputs = example_inputs(height, width)
    onnx_path = export_onnx(graph, output_dir / "densepose_graph.onnx", inputs)
    ts_path = export_torchscript(graph, output_dir / "densepose_graph.torchscript.pt", inputs)
    other = example_inputs(height, width, num_boxes=5, seed=1)  # other boxes: the dynamic axes work
    report = {
        "onnx": str(onnx_path),
        "torchscript": str(ts_path),
        "onnx_max_abs_diff": onnx_max_abs_diff(graph, onnx_path, other),
        "torchscript_max_abs_diff": max(float((a - b).abs().max()) for a, b in
                                        zip(torch.jit.load(str(ts_path))(*other), graph(*other), strict=False)),
        "input": [1, 3, height, width],
    }
    calibration = [example_inputs(height, width, seed=s) for s in range(4)]
    with torch.no_grad():
        reference = graph(*other)
    quantized = quantize_int8(graph, calibration)
    with torch.no_grad():
        q_out = quantized(*other)
    report["int8_head_max_abs_diff"] = [float((q - r).abs().max()) for q, r in zip(q_out, reference, strict=False)]
    report["int8_head_fine_part_agreement"] = float((q_out[1].argmax(1) == reference[1].argmax(1)).float().mean())
    int8_path = quantize_onnx_int8(onnx_path, output_dir / "densepose_graph.int8.onnx", calibration)
    use_threads(cfg.num_threads)
    threads = torch.get_num_threads()
    fp32_session, int8_session = ort_session(onnx_path, threads), ort_session(int8_path, threads)
    ort_int8 = int8_session.run(None, {"image": other[0].numpy(), "boxes": other[1].numpy()})
    report["int8_onnx"] = str(int8_path)
    report["int8_onnx_fine_part_agreement"] = float((ort_int8[1].argmax(1) == reference[1].numpy().argmax(1)).mean())
    report["int8_onnx_uv_max_abs_diff"] = max(float(np.abs(ort_int8[i] - reference[i].numpy()).max()) for i in (2, 3))
    report["size_mb"] = {"onnx_fp32": onnx_path.stat().st_size / 1e6, "onnx_int8": int8_path.stat().st_size / 1e6}
    report["threads"] = threads
    report["latency_ms"] = {"torch_fp32": _latency_ms(graph, inputs), "torch_int8_head": _latency_ms(quantized, inputs),
                            "onnxruntime_fp32": ort_latency_ms(fp32_session, inputs),
                            "onnxruntime_int8": ort_latency_ms(int8_session, inputs)}
    save_json(report, output_dir / "export_report.json")
    return report
