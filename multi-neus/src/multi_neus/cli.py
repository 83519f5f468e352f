"""multineus: 3-D head portraits from one image with multi-scene neural implicit functions (thesis section 3.5).

make-data, train, eval, pipeline (= make-data + train + eval), fit (a scene folder or a photo on a trained run),
mesh and render (a fitted model.pt), wild (one photo to a head in one command), view (meshes in the browser).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from shared_utils.cli import MemberCLI
from shared_utils.errors import InputError
from shared_utils.io import load_json, write_mesh, write_video
from shared_utils.run import RunClock, RunDir, pipeline_exit_code
from shared_utils.viewer import add_view_arguments

from . import config as config_module
from .data.generate import prepare_data
from .data.scene import load_scene
from .evaluate import evaluate
from .mesh import extract_mesh
from .photo import CROP_MARGIN
from .render import render_view, turntable_cameras
from .train import EXTRAS_FILE, MODEL_FILE, fit_multineus, fit_scratch, load_model, train
from .wild import wild_scene


def _setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def command_make_data(args, cfg) -> None:
    _setup()
    print(f"data ready in {prepare_data(cfg)}")


def command_train(args, cfg) -> None:
    _setup()
    print(f"trained run in {train(cfg, args.output_dir)}")


def command_eval(args, cfg) -> None:
    _setup()
    print(evaluate(cfg, args.run_dir)["headline"])


def command_pipeline(args, cfg) -> int:
    _setup()
    clock = RunClock()
    train(cfg, args.output_dir)
    metrics = evaluate(cfg, args.output_dir)
    print(f"{metrics['headline']} in {clock.seconds():.0f} s; written to {args.output_dir}")
    return pipeline_exit_code(metrics)


def command_fit(args, cfg) -> None:
    """Architecture and meta-learned weights from the run; fitting settings from its config plus overrides."""
    _setup()
    run = RunDir(args.run_dir)
    meta_file = run / "meta" / MODEL_FILE
    _, meta_model, _ = load_model(meta_file)
    if (args.scene is None) == (args.photo is None):
        raise InputError("give exactly one of --scene or --photo")
    if args.scene is not None:
        scene = load_scene(args.scene).subset(args.views or cfg.fit.views)
    else:
        if args.mask is None:
            raise InputError("--photo needs --mask (the foreground mask of the photo)")
        extras_file = run / "meta" / EXTRAS_FILE
        extras = load_json(extras_file)
        if "reference_landmarks" not in extras:
            raise InputError(f"{extras_file} has no reference 3-D landmarks: the training scenes had none")
        scene = wild_scene(
            args.photo, args.mask, np.asarray(extras["reference_landmarks"]), np.asarray(extras["mean_intrinsics"]),
            tuple(extras["image_size"]), np.asarray(extras["scale_mat"]), cfg.renderer, args.landmarks,
        )
        cfg.fit.cameras.enabled = True
    output = RunDir(args.output_dir).create()
    stages, _ = fit_multineus(cfg, meta_model, scene, output / "multineus")
    _write_fitted_mesh(cfg, stages[-1].model, scene.scale_mat, output / "multineus_mesh.ply")
    if args.scratch:
        scratch = fit_scratch(cfg, scene, output / "scratch")
        _write_fitted_mesh(cfg, scratch.model, scene.scale_mat, output / "scratch_mesh.ply")
    print(f"fitted {scene.name}: {output.path}")


def _write_fitted_mesh(cfg, model, scale_mat, path: Path, resolution: int | None = None) -> None:
    mesh = extract_mesh(model, 0, scale_mat, resolution or cfg.eval.mesh_resolution, cfg.eval.mesh_bound)
    write_mesh(path, mesh.vertices, mesh.faces, np.asarray(mesh.visual.vertex_colors[:, :3]) / 255)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise InputError(f"'{text}' is not a whole number") from error
    if value <= 0:
        raise InputError(f"expected a positive whole number, got {value}")
    return value


def command_mesh(args, cfg) -> None:
    _setup()
    model_cfg, model, payload = load_model(Path(args.model))
    scale_mat = np.asarray(payload.get("scale_mat", np.eye(4)))
    _write_fitted_mesh(model_cfg, model, scale_mat, Path(args.output), args.resolution)
    print(f"wrote {args.output}")


def command_render(args, cfg) -> None:
    _setup()
    model_cfg, model, _ = load_model(Path(args.model))
    # Normalised space: the head fills the unit sphere; the camera circles at 3.75 radii (0.6 m / 0.16 m).
    k, c2w = turntable_cameras(args.frames, args.size, distance=3.75)
    frames = [render_view(model, 0, k, pose, args.size, args.size, model_cfg.renderer)["color"] for pose in c2w]
    write_video(Path(args.output), np.stack(frames), fps=12)
    print(f"wrote {args.output}")


def command_wild(args, cfg) -> None:
    """One photo -> crop, mask, landmarks, PnP, two-stage fit, mesh, renders, metrics and report in --output-dir."""
    from shared_utils.report import write_report

    from .photo import fit_photo

    _setup()
    if not args.margin > 1.0:
        raise InputError(f"--margin must be above 1 (the crop is that many face heights tall), got {args.margin}")
    metrics = fit_photo(cfg, args.run_dir, args.image, args.output_dir, args.margin)
    print("  ".join(f"{name} {value}" for name, value in metrics["headline"].items()))
    print(f"wrote {write_report(RunDir(args.output_dir), member='multineus')}")


def command_view(args, cfg) -> None:
    """The run's meshes (fitted heads beside their ground truth, each toggled) and any ``--mesh`` in the browser."""
    from shared_utils.viewer import run_files, view_files

    files = [*(run_files(args.run_dir) if args.run_dir else []), *(Path(m) for m in args.mesh or [])]
    view_files(files, args.host, args.port).serve_forever()


cli = MemberCLI("multineus", __doc__, config_module.load)
cli.add("make-data", command_make_data, "generate the synthetic heads into the data root", kind="config")
cli.add("train", command_train, "meta-learn, then fit every held-out head from its F/L/R views", kind="new")
cli.add("eval", command_eval, "meshes, Table 7 metrics, results.md and pictures of a trained run", kind="existing",
        report=True)
cli.add("pipeline", command_pipeline, "make-data + train + eval (exit 3 when an opt-in time limit cut training)",
        kind="new", report=True)
fit = cli.add("fit", command_fit, "fit a new head from views of a scene folder or from one photo, with a trained "
                                  "run's meta-learned model", kind="existing")
fit.add_argument("--output-dir", required=True, type=Path, help="folder for the fitted models and meshes")
fit.add_argument("--scene", help="NeuS/IDR or H3DS-style scene folder (known cameras)")
fit.add_argument("--views", type=int, nargs="+", help="view indices of --scene to fit (default: fit.views)")
fit.add_argument("--photo", help="a single photo (unknown camera: landmarks + PnP + camera refinement)")
fit.add_argument("--mask", help="foreground mask of --photo")
fit.add_argument("--landmarks", help="JSON with the 2-D landmarks of --photo (default: detected with dlib)")
fit.add_argument("--scratch", action="store_true", help="also fit NeuS from scratch with the same budget")
mesh = cli.add("mesh", command_mesh, "marching-cubes mesh (PLY, world units, vertex colours) of a fitted model.pt",
               kind="plain")
mesh.add_argument("--model", required=True, help="model.pt written by train or fit")
mesh.add_argument("--output", required=True, help=".ply to write")
mesh.add_argument("--resolution", type=_positive, help="grid size per axis (default: eval.mesh_resolution)")
render = cli.add("render", command_render, "turntable video of volume renders of a fitted model.pt", kind="plain")
render.add_argument("--model", required=True, help="model.pt written by train or fit")
render.add_argument("--output", required=True, help=".mp4 or .gif")
render.add_argument("--frames", type=_positive, default=36)
render.add_argument("--size", type=_positive, default=96)
wild = cli.add("wild", command_wild, "a 3-D head from one photo in one command: face landmarks (dlib), crop, head "
               "mask (GrabCut), PnP, two-stage fit with camera refinement, mesh, renders, metrics and report",
               kind="existing")
wild.add_argument("--image", required=True, type=Path, help="the photo (one face; the most confident one is used)")
wild.add_argument("--output-dir", required=True, type=Path, help="folder for inputs/, fit/, pictures/, metrics")
wild.add_argument("--margin", type=float, default=CROP_MARGIN,
                  help=f"crop height in face heights (default {CROP_MARGIN})")
view = cli.add("view", command_view, "browser viewer of a run's meshes and of meshes written by 'mesh'", kind="plain")
view.add_argument("--run-dir", type=Path, help="run folder written by train/pipeline/eval")
view.add_argument("--mesh", action="append", help="a mesh (.ply/.obj) to show too; repeat for several")
add_view_arguments(view)
main = cli.main

if __name__ == "__main__":
    raise SystemExit(main())
