"""``mprcnn``: train, eval, pipeline, predict, export, params, bench."""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys

from shared_utils.errors import InputError, cli_entry
from shared_utils.io import save_json

from . import config as config_module


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="cpu", help="packaged config name (cpu, thesis, variant_a, ...) or path")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_steps=10")


def _load(args) -> config_module.Config:
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise InputError(f"override '{bad[0]}' is not of the form key=value")
    return config_module.load(args.config, args.overrides)


def cmd_train(args) -> None:
    from .train import train

    cfg = _load(args)
    print(train(cfg, args.output_dir))


def cmd_eval(args) -> None:
    from shared_utils.config import load_config

    from .eval import evaluate_run

    run_dir = pathlib.Path(args.run_dir)
    saved = run_dir / "config.yaml"
    if args.config == "cpu" and saved.is_file():
        cfg = load_config(config_module.Config, saved, args.overrides)
    else:
        cfg = _load(args)
    print(json.dumps(evaluate_run(run_dir, cfg, args.checkpoint), indent=2))


def cmd_pipeline(args) -> None:
    from .eval import evaluate_run
    from .train import train

    cfg = _load(args)
    out = pathlib.Path(args.output_dir)
    train(cfg, out)
    metrics = evaluate_run(out, cfg)
    print(json.dumps(metrics, indent=2))


def cmd_params(args) -> None:
    from .params import parameter_table

    rows = parameter_table(args.models or None, args.overrides)
    print(f"{'config':26s} {'model':38s} {'ours':>9s} {'thesis':>8s} {'diff':>7s}")
    for r in rows:
        diff = 100 * r["rel_diff"]
        print(f"{r['config']:26s} {r['model']:38s} {r['ours_m']:8.3f}M {r['thesis_m']:7.2f}M {diff:+6.2f}%")
    if args.json:
        save_json(rows, args.json)
    else:
        print(json.dumps(rows))


def cmd_predict(args) -> None:
    from .predict import predict_path

    cfg = _load(args)
    written = predict_path(args.checkpoint, args.input, args.output_dir, cfg)
    print(f"wrote {len(written)} files to {args.output_dir}")


def cmd_export(args) -> None:
    from .export import export_run

    cfg = _load(args)
    print(json.dumps(export_run(cfg, args.output_dir, args.checkpoint), indent=2))


def cmd_bench(args) -> None:
    from .bench import latency_table

    cfg = _load(args)
    rows = latency_table(cfg, args.models, args.size, args.repeats)
    for r in rows:
        print(f"{r['config']:26s} {r['ms']:9.1f} ms  {r['fps']:6.2f} FPS  x{r['speedup_vs_baseline']:.2f} vs baseline")
    if args.json:
        save_json(rows, args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mprcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a variant")
    p.add_argument("--output-dir", default="outputs/mprcnn/default")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("eval", help="re-evaluate a trained run, rewrite metrics.json and results.md")
    p.add_argument("--run-dir", default="outputs/mprcnn/default")
    p.add_argument("--checkpoint", default=None)
    p.set_defaults(fn=cmd_eval)
    p = sub.add_parser("pipeline", help="data (if missing) -> train -> eval -> metrics, results, pictures")
    p.add_argument("--output-dir", default="outputs/mprcnn/default")
    p.set_defaults(fn=cmd_pipeline)
    p = sub.add_parser("params", help="parameter counts beside thesis Tables 4 and 6")
    p.add_argument("--models", nargs="*", default=None, help="config stems (default: all thesis variants)")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.set_defaults(fn=cmd_params)
    p = sub.add_parser("predict", help="image, folder or video -> IUV images, U/V contour plots, DensePose JSON")
    p.add_argument("input")
    p.add_argument("--checkpoint", default="outputs/mprcnn/default/checkpoints/last.ckpt")
    p.add_argument("--output-dir", default="outputs/mprcnn/predict")
    p.set_defaults(fn=cmd_predict)
    p = sub.add_parser("export", help="TorchScript + ONNX (checked in onnxruntime) and int8 quantisation")
    p.add_argument("--checkpoint", default=None, help="trained checkpoint (default: random weights)")
    p.add_argument("--output-dir", default="outputs/mprcnn/export")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("bench", help="CPU latency of variants vs the DensePose R-CNN baseline, same input size")
    p.add_argument("--models", nargs="*", default=["thesis", "variant_a", "densepose_rcnn_r50_fpn"])
    p.add_argument("--size", type=int, default=320, help="short side of the input")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    p.set_defaults(fn=cmd_bench)
    for action in sub.choices.values():
        _add_common(action)
    return parser


@cli_entry
def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    # key=value overrides may follow options too (argparse would otherwise refuse them after an option)
    args, extra = parser.parse_known_args(argv)
    unknown = [e for e in extra if "=" not in e or e.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides = [*args.overrides, *extra]
    args.fn(args)


if __name__ == "__main__":
    main()
