"""``mprcnn``: make-data, train, eval, pipeline, predict, export, params, bench."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from shared_utils.cli import MemberCLI
from shared_utils.io import save_json
from shared_utils.run import RunClock, RunDir, pipeline_exit_code

from . import config as config_module

# exit code of a pipeline whose training an opt-in time limit cut short (everything else was written)


def make_data(args, cfg) -> None:
    from .data import dataset_folder

    print(dataset_folder(cfg))


def train_command(args, cfg) -> None:
    from .train import train

    print(train(cfg, args.output_dir))


def eval_command(args, cfg) -> None:
    from .evaluate import evaluate

    print(json.dumps(evaluate(cfg, args.run_dir), indent=2))


def pipeline(args, cfg) -> int:
    from .evaluate import evaluate
    from .train import train

    clock = RunClock()
    metrics = evaluate(cfg, train(cfg, args.output_dir), clock)
    print(json.dumps(metrics, indent=2))
    return pipeline_exit_code(metrics)


def params(args, cfg) -> None:
    from .params import parameter_row, parameter_table

    rows = [parameter_row(args.config, cfg), *parameter_table(args.models, args.overrides)]
    print(f"{'config':26s} {'model':38s} {'ours':>9s} {'thesis':>8s} {'diff':>7s}")
    for r in rows:
        thesis = "—" if r["thesis_m"] is None else f"{r['thesis_m']:7.2f}M"
        diff = "" if r["rel_diff"] is None else f"{100 * r['rel_diff']:+6.2f}%"
        print(f"{r['config'][-26:]:26s} {r['model']:38s} {r['ours_m']:8.3f}M {thesis:>8s} {diff:>7s}")
    if args.json:
        save_json(rows, args.json)
        print(f"wrote {args.json}")


def predict(args, cfg) -> None:
    from .predict import predict_path

    checkpoint = args.checkpoint or RunDir(args.run_dir).best_checkpoint()
    output_dir = args.output_dir or RunDir(args.run_dir) / "predictions"
    written = predict_path(checkpoint, args.input, output_dir, cfg)
    print(f"wrote {len(written)} files to {output_dir}")


def export(args, cfg) -> None:
    from .export import export_run

    print(json.dumps(export_run(cfg, args.output_dir, args.checkpoint), indent=2))


def bench(args, cfg) -> None:
    from .bench import latency_table

    rows = latency_table(cfg, args.models, args.size, args.repeats)
    for r in rows:
        print(f"{r['config']:26s} {r['ms']:9.1f} ms  {r['fps']:6.2f} FPS  x{r['speedup_vs_baseline']:.2f} vs baseline")
    if args.json:
        save_json(rows, args.json)


cli = MemberCLI("mprcnn", __doc__, config_module.load)
cli.add("make-data", make_data, "render the built-in synthetic data set (if missing) and print its folder")
cli.add("train", train_command, "train a variant into --output-dir (resumes from its last.ckpt)", kind="new")
cli.add("eval", eval_command, "re-evaluate a trained run: metrics.json, results.md, pictures/, report.html",
        kind="existing", report=True)
cli.add("pipeline", pipeline, "data (if missing) -> train -> eval; exits 3 when an opt-in time limit cut training",
        kind="new", report=True)
sub = cli.add("params", params, "parameter counts of --config and of the thesis variants beside Tables 4 and 6")
sub.add_argument("--models", nargs="*", default=None, help="shipped config stems (default: every thesis variant)")
sub.add_argument("--json", default=None, type=Path, help="also write the rows to this JSON file")
sub = cli.add("predict", predict, "image, folder or video -> labelled IUV and U/V contour pictures, DensePose JSON",
              kind="existing")
sub.add_argument("--input", required=True, type=Path, help="an image, a folder of images or a video")
sub.add_argument("--checkpoint", default=None, type=Path, help="default: the run's best (else last) checkpoint")
sub.add_argument("--output-dir", default=None, type=Path, help="default: <run-dir>/predictions")
sub = cli.add("export", export, "TorchScript + ONNX (checked in onnxruntime) and int8 quantisation")
sub.add_argument("--checkpoint", default=None, type=Path, help="trained checkpoint (default: random weights)")
sub.add_argument("--output-dir", default=Path("outputs/mprcnn/export"), type=Path)
sub = cli.add("bench", bench, "CPU latency of variants vs the DensePose R-CNN baseline at the same input size")
sub.add_argument("--models", nargs="*", default=["thesis", "variant_a", "densepose_rcnn_r50_fpn"])
sub.add_argument("--size", type=int, default=320, help="short side of the input in pixels")
sub.add_argument("--repeats", type=int, default=3)
sub.add_argument("--json", default=None, type=Path)


class _ProgressHandler(logging.StreamHandler):
    """Log lines go to stdout: stderr carries only the one ``error:`` line of a failed command. The stream is looked
    up when a record is written, so a caller that swaps ``sys.stdout`` (pytest, notebooks) gets the lines too."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def main(argv=None) -> int:
    package_log = logging.getLogger("mobile_parsing_rcnn")
    if not any(isinstance(h, _ProgressHandler) for h in package_log.handlers):
        package_log.addHandler(_ProgressHandler())
        package_log.setLevel(logging.INFO)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
