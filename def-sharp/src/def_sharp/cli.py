"""def-sharp: DEF, deep estimation of sharp geometric features (make-data, train, eval, pipeline, predict, curves,
view)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared_utils.cli import MemberCLI
from shared_utils.errors import InputError
from shared_utils.run import RunClock, RunDir, ensure_folder, pipeline_exit_code
from shared_utils.viewer import add_view_arguments

from def_sharp import config
from def_sharp.config import DEFConfig


def make_data(args: argparse.Namespace, cfg: DEFConfig) -> None:
    from def_sharp.data.defsim import ensure_dataset

    print(f"data set ready: {ensure_dataset(cfg.data)}")


def train(args: argparse.Namespace, cfg: DEFConfig) -> None:
    from def_sharp.train import train as train_run

    print(f"trained {train_run(cfg, args.output_dir)}")


def evaluate(args: argparse.Namespace, cfg: DEFConfig) -> int:
    from def_sharp.evaluate import evaluate as evaluate_run

    return _report(evaluate_run(cfg, args.run_dir), args.run_dir)


def pipeline(args: argparse.Namespace, cfg: DEFConfig) -> int:
    """make-data + train + eval; exit code 3 when an opt-in time limit cut training short."""
    from lightning.pytorch.utilities import rank_zero_only

    from def_sharp.evaluate import evaluate as evaluate_run
    from def_sharp.train import train as train_run

    clock = RunClock()
    run_dir = train_run(cfg, args.output_dir)
    if rank_zero_only.rank != 0:  # under DDP every rank trains; one evaluates
        return 0
    return _report(evaluate_run(cfg, run_dir, clock), run_dir)


def predict(args: argparse.Namespace, cfg: DEFConfig) -> None:
    from def_sharp.inputs import check_predict_input
    from def_sharp.whole_model import predict_file

    check_predict_input(args.input)
    ensure_folder(args.output.parent, "output folder")  # refused before the minutes of prediction, not after
    predict_file(args.run_dir, args.input, args.output, cfg, scale=args.scale)
    print(f"wrote {args.output}")


def curves(args: argparse.Namespace, cfg: DEFConfig) -> None:
    from def_sharp.curves import extract_curves_file
    from def_sharp.inputs import read_distances, read_points

    read_distances(args.points.with_suffix(".distances.npy"), len(read_points(args.points)))
    ensure_folder(args.output.parent, "output folder")
    count = extract_curves_file(args.points, args.output, cfg)
    print(f"wrote {count} curves to {args.output}")


def view(args: argparse.Namespace, cfg: DEFConfig) -> None:
    """A run's 3D pictures, or a prediction (``--points``) with its curves, in the browser: points within the
    threshold slider's distance are red; the run's r (in the input's units) is the starting threshold."""
    from shared_utils.io import load_json
    from shared_utils.viewer import Viewer, run_files, view_files

    from def_sharp.inputs import read_distances, read_points

    if args.points is None:
        if args.curves is not None:
            raise InputError("--curves needs the --points they were extracted from")
        viewer = view_files(run_files(args.run_dir), args.host, args.port, threshold=cfg.eval.threshold)
    else:
        points = read_points(args.points)
        distances = read_distances(args.points.with_suffix(".distances.npy"), len(points))
        summary = args.points.with_suffix(".json")
        threshold = (float(load_json(summary)["threshold_input_units"]) if summary.is_file()
                     else cfg.eval.threshold)
        curves = None if args.curves is None else args.curves.with_suffix(".ply")
        if curves is not None and not curves.is_file():
            raise InputError(f"curve line set '{curves}' not found (written by 'def-sharp curves' beside its JSON)")
        viewer = Viewer(args.host, args.port)
        viewer.add_distance_points(f"{args.points.name}: distance to a sharp feature", points, distances, threshold)
        if curves is not None:
            viewer.add_file(curves, f"{curves.name}: curves")
        viewer.frame_all()
    viewer.serve_forever()


def _report(metrics: dict, run_dir: Path) -> int:
    for name in ("def", "baseline"):
        values = metrics[name]
        print(f"{name:9s} rmse {values['rmse']:.4f}  rmse_q95 {values['rmse_q95']:.4f}  "
              f"recall {100 * values['recall']:.1f} %  fpr {100 * values['fpr']:.2f} %")
    run = RunDir(run_dir)
    print(f"wrote {run.metrics} and {run.results}")
    return pipeline_exit_code(metrics)


cli = MemberCLI("def-sharp", __doc__, config.load)
cli.add("make-data", make_data, "generate the procedural DEF-Sim-style patch data set", kind="config")
cli.add("train", train, "train the patch estimator (resumes from the run's last.ckpt)", kind="new")
cli.add("eval", evaluate, "re-evaluate a trained run (rewrites metrics.json, results.md, pictures/)",
        kind="existing", report=True)
cli.add("pipeline", pipeline, "make-data + train + eval", kind="new", report=True)
predict_parser = cli.add("predict", predict, "per-point distances for a mesh, point cloud or range scans",
                         kind="existing")
predict_parser.add_argument("--input", required=True, type=Path,
                            help="mesh (.obj/.ply/.stl/.off: scanned from n views), point cloud (.ply/.pcd/.xyz/.npy) "
                                 "or range scans (.npz with depth (V,H,W), c2w (V,4,4), pixel_size)")
predict_parser.add_argument("--output", required=True, type=Path,
                            help="coloured PLY; distances also saved as <output>.distances.npy")
predict_parser.add_argument("--scale", type=float, default=None,
                            help="factor from the input's units to the training scale (default: meshes by the "
                                 "DEF-Sim normalisation, clouds by their extent); distances are reported in the "
                                 "input's units either way")
# The curve radii and the threshold r belong to the scale the run's network was trained at, so curves take the
# run's saved config (a --config here would silently mix scales).
curves_parser = cli.add("curves", curves, "extract parametric feature curves from a run's predicted distances",
                        kind="existing")
curves_parser.add_argument("--points", required=True, type=Path,
                           help="PLY written by 'predict' (its distances beside it as <name>.distances.npy)")
curves_parser.add_argument("--output", required=True, type=Path,
                           help="curves JSON; a PLY line set is written beside it")
view_parser = cli.add("view", view, "browser viewer of a run's 3D pictures or of a prediction: a threshold slider "
                      "on the distance, curves toggled", kind="existing")
view_parser.add_argument("--points", type=Path, help="PLY written by 'predict' (its distances beside it)")
view_parser.add_argument("--curves", type=Path, help="curves JSON written by 'curves' (its PLY line set beside it)")
add_view_arguments(view_parser)
main = cli.main

if __name__ == "__main__":
    sys.exit(main())
