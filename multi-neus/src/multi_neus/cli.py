"""Console script ``multineus``: pipeline, train, fit, mesh, eval, render."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from shared_utils.errors import InputError, cli_entry
from shared_utils.io import load_json, save_json, write_mesh, write_video

from . import config as config_module
from .data.scene import load_scene, load_split
from .mesh import extract_mesh
from .pipeline import evaluate_run, meta_model_extras, prepare_data, run_pipeline
from .render import render_view, turntable_cameras
from .train import fit_multineus, fit_scratch, load_model, meta_learn
from .wild import wild_scene


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="cpu", help="packaged config name (cpu, thesis, ...) or a YAML path")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. meta.trainer.max_steps=10")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multineus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pipeline", help="data -> meta-learning -> 1-view fits -> meshes -> metrics -> pictures")
    p.add_argument("--output-dir", default="outputs/multineus/default")
    _add_common(p)
    p = sub.add_parser("train", help="meta-learn on the training scenes (writes OUTPUT/meta/model.pt)")
    p.add_argument("--output-dir", default="outputs/multineus/default")
    _add_common(p)
    p = sub.add_parser("fit", help="fit a new identity from a few views of a scene folder or from one photo")
    p.add_argument("--meta-model", required=True, help="model.pt written by `multineus train`")
    p.add_argument("--scene", help="NeuS/IDR or H3DS-style scene folder (known cameras)")
    p.add_argument("--views", type=int, nargs="+", help="view indices of --scene to fit (default: fit.views)")
    p.add_argument("--photo", help="a single photo (unknown camera: landmarks + PnP + camera refinement)")
    p.add_argument("--mask", help="foreground mask of --photo")
    p.add_argument("--landmarks", help="JSON with the 2-D landmarks of --photo (default: MediaPipe if installed)")
    p.add_argument("--scratch", action="store_true", help="also fit NeuS from scratch with the same budget")
    p.add_argument("--output-dir", required=True)
    _add_common(p)
    p = sub.add_parser("mesh", help="marching-cubes mesh (PLY, world units, vertex colours) of a fitted model")
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--resolution", type=int)
    _add_common(p)
    p = sub.add_parser("eval", help="re-evaluate a pipeline run (meshes, metrics.json, results.md, pictures)")
    p.add_argument("--run-dir", default="outputs/multineus/default")
    _add_common(p)
    p = sub.add_parser("render", help="turntable video of volume renders of a fitted model")
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True, help=".mp4 or .gif")
    p.add_argument("--frames", type=int, default=36)
    p.add_argument("--size", type=int, default=96)
    _add_common(p)
    return parser


def _fit_config(args, saved_cfg):
    """Architecture from the meta-learned model, fitting/eval settings from --config and overrides."""
    cli_cfg = config_module.load(args.config, args.overrides)
    saved_cfg.fit, saved_cfg.loss, saved_cfg.eval = cli_cfg.fit, cli_cfg.loss, cli_cfg.eval
    saved_cfg.seed = cli_cfg.seed
    return saved_cfg


def command_fit(args) -> None:
    meta_cfg, meta_model, _ = load_model(Path(args.meta_model))
    cfg = _fit_config(args, meta_cfg)
    output = Path(args.output_dir)
    if (args.scene is None) == (args.photo is None):
        raise InputError("give exactly one of --scene or --photo")
    if args.scene is not None:
        scene = load_scene(args.scene)
        if args.views:
            cfg.fit.views = args.views
        scene = scene.subset(cfg.fit.views)
    else:
        if args.mask is None:
            raise InputError("--photo needs --mask (the foreground mask of the photo)")
        extras_file = Path(args.meta_model).parent / "extras.json"
        extras = load_json(extras_file)
        if "reference_landmarks" not in extras:
            raise InputError(f"{extras_file} has no reference 3-D landmarks: the training scenes had none")
        scene = wild_scene(
            args.photo, args.mask, np.asarray(extras["reference_landmarks"]), np.asarray(extras["mean_intrinsics"]),
            tuple(extras["image_size"]), np.asarray(extras["scale_mat"]), args.landmarks,
        )
        cfg.fit.views = [0]
        cfg.fit.cameras.enabled = True
    model, weights = fit_multineus(cfg, meta_model, scene, output / "multineus")
    save_json({"weights": weights}, output / "multineus" / "aggregation.json")
    _write_fitted_mesh(cfg, model, scene.scale_mat, output / "multineus_mesh.ply")
    if args.scratch:
        scratch = fit_scratch(cfg, scene, output / "scratch")
        _write_fitted_mesh(cfg, scratch, scene.scale_mat, output / "scratch_mesh.ply")


def _write_fitted_mesh(cfg, model, scale_mat, path: Path, resolution: int | None = None) -> None:
    mesh = extract_mesh(model, 0, scale_mat, resolution or cfg.eval.mesh_resolution, cfg.eval.mesh_bound)
    write_mesh(path, mesh.vertices, mesh.faces, np.asarray(mesh.visual.vertex_colors[:, :3]) / 255)


def command_mesh(args) -> None:
    cfg, model, payload = load_model(Path(args.model))
    scale_mat = np.asarray(payload.get("scale_mat", np.eye(4)))
    _write_fitted_mesh(cfg, model, scale_mat, Path(args.output), args.resolution)


def command_render(args) -> None:
    cfg, model, _ = load_model(Path(args.model))
    # Normalised space: the head fills the unit sphere; the camera circles at 3.75 radii (0.6 m / 0.16 m).
    k, c2w = turntable_cameras(args.frames, args.size, distance=3.75)
    frames = [render_view(model, 0, k, pose, args.size, args.size, cfg.renderer)["color"] for pose in c2w]
    write_video(Path(args.output), np.stack(frames), fps=12)


@cli_entry
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    if args.command == "pipeline":
        cfg = config_module.load(args.config, args.overrides)
        metrics = run_pipeline(cfg, Path(args.output_dir))
        print(metrics)
    elif args.command == "train":
        cfg = config_module.load(args.config, args.overrides)
        root = prepare_data(cfg)
        scenes = load_split(root, "train", cfg.data.downscale)
        meta_learn(cfg, scenes, Path(args.output_dir) / "meta")
        save_json({k: np.asarray(v) for k, v in meta_model_extras(scenes).items()},
                  Path(args.output_dir) / "meta" / "extras.json")
    elif args.command == "fit":
        command_fit(args)
    elif args.command == "mesh":
        command_mesh(args)
    elif args.command == "eval":
        print(evaluate_run(Path(args.run_dir), overrides=args.overrides))
    elif args.command == "render":
        command_render(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
