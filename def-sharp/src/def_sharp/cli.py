"""Console script `def-sharp`: make-data, train, eval, pipeline, predict, curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared_utils.errors import InputError, cli_entry

from def_sharp import config as config_module


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="cpu", help="shipped config name (cpu, thesis, ...) or a YAML path")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. trainer.max_steps=10")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="def-sharp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make_data = commands.add_parser("make-data", help="generate the procedural DEF-Sim-style patch data set")
    _add_common(make_data)
    for name, help_text in (("train", "train the patch estimator"), ("pipeline", "make-data + train + eval")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--output-dir", required=True, type=Path)
        _add_common(sub)
    evaluate = commands.add_parser("eval", help="re-evaluate a trained run (rewrites metrics.json, results.md)")
    evaluate.add_argument("--run-dir", required=True, type=Path)
    _add_common(evaluate)
    predict = commands.add_parser("predict", help="per-point distances for a mesh, point cloud or range scans")
    predict.add_argument("--run-dir", required=True, type=Path)
    predict.add_argument("--input", required=True, type=Path,
                         help="mesh (.obj/.ply/.stl/.off: scanned from n views), point cloud (.ply/.pcd/.xyz/.npy) "
                              "or range scans (.npz with depth (V,H,W), c2w (V,4,4), pixel_size)")
    predict.add_argument("--output", required=True, type=Path, help="coloured PLY; distances also saved as .npy")
    _add_common(predict)
    curves = commands.add_parser("curves", help="extract parametric feature curves from predicted distances")
    curves.add_argument("--points", required=True, type=Path, help="PLY written by 'predict' (distances beside it)")
    curves.add_argument("--output", required=True, type=Path, help="curves JSON; a PLY line set is written beside it")
    _add_common(curves)
    return parser


def _run_config(args: argparse.Namespace, run_dir: Path | None = None) -> config_module.DEFConfig:
    """The run's saved config when evaluating an existing run (unless --config is given explicitly)."""
    saved = run_dir / "config.yaml" if run_dir is not None else None
    if saved is not None and saved.exists() and args.config == "cpu":
        return config_module.load(saved, args.overrides)
    return config_module.load(args.config, args.overrides)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    bad = [item for item in args.overrides if "=" not in item]
    if bad:
        raise InputError(f"override '{bad[0]}' is not of the form key=value")
    if args.command == "make-data":
        from def_sharp.data.defsim import ensure_dataset

        print(f"data set ready: {ensure_dataset(config_module.load(args.config, args.overrides).data)}")
    elif args.command in ("train", "pipeline"):
        from def_sharp.train import train

        cfg = config_module.load(args.config, args.overrides)
        is_global_zero = train(cfg, args.output_dir)
        if args.command == "pipeline" and is_global_zero:
            from def_sharp.evaluate import evaluate

            _print_metrics(evaluate(cfg, args.output_dir), args.output_dir)
    elif args.command == "eval":
        from def_sharp.evaluate import evaluate

        _print_metrics(evaluate(_run_config(args, args.run_dir), args.run_dir), args.run_dir)
    elif args.command == "predict":
        from def_sharp.whole_model import predict_file

        predict_file(args.run_dir, args.input, args.output, _run_config(args, args.run_dir))
        print(f"wrote {args.output}")
    elif args.command == "curves":
        from def_sharp.curves import extract_curves_file

        count = extract_curves_file(args.points, args.output, _run_config(args))
        print(f"wrote {count} curves to {args.output}")
    return 0


def _print_metrics(metrics: dict, run_dir: Path) -> None:
    for name in ("def", "baseline"):
        values = metrics[name]
        print(f"{name:9s} rmse {values['rmse']:.4f}  rmse_q95 {values['rmse_q95']:.4f}  "
              f"recall {100 * values['recall']:.1f} %  fpr {100 * values['fpr']:.2f} %")
    print(f"wrote {run_dir / 'metrics.json'} and {run_dir / 'results.md'}")


if __name__ == "__main__":
    main()
