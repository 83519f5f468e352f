"""Console script ``npbgpp``: make-data, train, eval, pipeline, build, render, view, finetune, make-points.

``pipeline`` = make-data + train + eval on the CPU config: ``npbgpp pipeline --output-dir outputs/npbg/default``.
Commands on a trained run take ``--run-dir`` and use the run's saved ``config.yaml`` plus ``key=value`` overrides.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch
from shared_utils.cli import MemberCLI
from shared_utils.errors import InputError
from shared_utils.io import (
    atomic_torch_save,
    load_arrays,
    load_checkpoint,
    save_json,
    write_image,
    write_point_cloud,
    write_video,
)
from shared_utils.run import RunClock, RunDir, ensure_folder, pipeline_exit_code
from shared_utils.viewer import add_view_arguments

from npbgpp.config import load
from npbgpp.data.datasets import data_root, load_named_scene, load_scenes, named_scene_frames, scene_names
from npbgpp.data.points import make_points
from npbgpp.data.scene import SceneData
from npbgpp.evaluate import ImageMetrics, evaluate, orbit_cameras, render_cameras
from npbgpp.finetune import build_scene, fit_scene
from npbgpp.lightning import render_views
from npbgpp.models.npbgpp import PointDescriptors
from npbgpp.train import load_trained_model, train, trained_steps

log = logging.getLogger("npbgpp")

BUILT_SCENE_KEYS = ("points", "beta", "beta0", "intrinsics", "w2c", "height", "width")


def cmd_make_data(args, cfg) -> None:
    train_names, holdout_names = scene_names(cfg)
    if cfg.data.kind != "synthetic":
        load_scenes(cfg, train_names + holdout_names)  # real data: check that every configured scene loads
    print(f"{len(train_names)} training and {len(holdout_names)} hold-out scenes ready in {data_root(cfg)}")


def cmd_train(args, cfg) -> None:
    print(f"trained -> {train(cfg, args.output_dir)}")


def cmd_pipeline(args, cfg) -> int:
    clock = RunClock()
    run = RunDir(args.output_dir).create()
    if trained_steps(run) >= cfg.trainer.max_steps:
        log.info("training already finished in %s; reusing the trained model", run.path)
    else:
        train(cfg, run.path)
    metrics = evaluate(cfg, run.path, clock)
    print(metrics["headline"])
    return pipeline_exit_code(run.read_metrics())


def cmd_eval(args, cfg) -> None:
    print(evaluate(cfg, args.run_dir)["headline"])


def cmd_build(args, cfg) -> None:
    model = load_trained_model(RunDir(args.run_dir), cfg)
    scene = named_scene_frames(cfg, args.scene)
    descriptors = build_scene(model, scene)
    atomic_torch_save({**descriptors.state_dict(), "intrinsics": scene.intrinsics, "w2c": scene.w2c,
                       "height": scene.height, "width": scene.width, "scene": scene.name}, args.out)
    print(f"built scene '{scene.name}': {descriptors.points.shape[0]} of {scene.points.shape[0]} points seen "
          f"-> {args.out}")


def load_built_scene(path) -> dict:
    data = load_checkpoint(path, weights_only=True)
    missing = [key for key in BUILT_SCENE_KEYS if key not in data]
    if missing:
        raise InputError(f"built scene '{path}' lacks {', '.join(missing)}: write it with 'npbgpp build'")
    return data


def readrender_cameras(path, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """``intrinsics`` (N, 3, 3) and ``w2c`` (N, 4, 4) from an .npz, NaN/Inf refused; optional height, width."""
    arrays = load_arrays(path, required=("intrinsics", "w2c"))
    intrinsics = torch.as_tensor(arrays["intrinsics"], dtype=torch.float32)
    w2c = torch.as_tensor(arrays["w2c"], dtype=torch.float32)
    if intrinsics.ndim != 3 or intrinsics.shape[1:] != (3, 3) or w2c.ndim != 3 or w2c.shape[1:] != (4, 4) or (
            len(intrinsics) != len(w2c)) or len(w2c) == 0:
        raise InputError(f"camera file '{path}' must hold intrinsics (N, 3, 3) and w2c (N, 4, 4) with the same N >= 1,"
                         f" got {tuple(intrinsics.shape)} and {tuple(w2c.shape)}")
    height = int(arrays["height"]) if "height" in arrays else height
    width = int(arrays["width"]) if "width" in arrays else width
    return intrinsics, w2c, height, width


def cmd_render(args, cfg) -> None:
    model = load_trained_model(RunDir(args.run_dir), cfg)
    built = load_built_scene(args.scene_file)
    descriptors = PointDescriptors(built["points"], built["beta"], built["beta0"])
    height, width = int(built["height"]), int(built["width"])
    if args.cameras:
        intrinsics, w2c, height, width = readrender_cameras(args.cameras, height, width)
    else:
        views = len(built["w2c"])
        scene = SceneData("built", torch.zeros(views, 3, height, width), built["intrinsics"], built["w2c"],
                          built["points"], torch.zeros(views, dtype=torch.bool))
        intrinsics, w2c = orbit_cameras(scene, args.orbit, cfg.render.up_axis)
    images = render_cameras(model, descriptors, intrinsics, w2c, height, width)
    out = Path(args.out)
    frames = images.permute(0, 2, 3, 1).numpy()
    if out.suffix in {".mp4", ".gif"}:
        write_video(out, frames, fps=cfg.eval.orbit_fps)
    else:
        for index, frame in enumerate(frames):
            write_image(out / f"{index:04d}.png", frame)
    print(f"rendered {len(frames)} images -> {out}")


def cmd_view(args, cfg) -> None:
    from npbgpp.viewer import LiveRenderer, serve_scene

    if args.scene is not None and args.scene_file is not None:
        raise InputError("give one of --scene (a scene under the data root, built now) and --scene-file (written "
                         "by 'npbgpp build'), not both")
    model = load_trained_model(RunDir(args.run_dir), cfg)
    if args.scene_file is not None:
        built = load_built_scene(args.scene_file)
        descriptors = PointDescriptors(built["points"], built["beta"], built["beta0"])
        intrinsics, w2c, height, width = built["intrinsics"], built["w2c"], int(built["height"]), int(built["width"])
    else:
        name = args.scene or next(iter(scene_names(cfg)[1]), None)
        if name is None:
            raise InputError("the config lists no hold-out scene: name one with --scene")
        scene = load_named_scene(cfg, name)
        with torch.inference_mode():
            descriptors = build_scene(model, scene)
        inputs = scene.input_indices
        intrinsics, w2c, height, width = scene.intrinsics[inputs], scene.w2c[inputs], scene.height, scene.width
    live = serve_scene(LiveRenderer(model, descriptors), descriptors.points, intrinsics, w2c, height, width,
                       args.host, args.port, args.render_height)
    live.viewer.serve_forever()


def cmd_finetune(args, cfg) -> None:
    run = RunDir(args.run_dir)
    model = load_trained_model(run, cfg)
    scene = load_named_scene(cfg, args.scene)
    output_dir = Path(args.output_dir or run / args.mode / scene.name)
    descriptors = build_scene(model, scene) if args.mode == "ft" else None
    fitted, timeline = fit_scene(model, scene, args.mode, cfg, output_dir, descriptors)
    frames = scene.holdout_indices
    metrics = ImageMetrics(cfg.eval.crop_border, cfg.eval.lpips_net)
    result = metrics(render_views(fitted.render, scene, frames), scene.images[frames])
    save_json({"scene": scene.name, "mode": args.mode, "metrics": result, "timeline": timeline},
              output_dir / "finetune_metrics.json")
    print(result)


def cmd_make_points(args, cfg) -> None:
    if not args.scene_dir.is_dir():
        raise InputError(f"scene folder '{args.scene_dir}' not found")
    out = args.out or args.scene_dir / "points.ply"
    ensure_folder(out.parent, "output folder")  # before minutes of carving, not after
    points = make_points(args.scene_dir, cfg.points)
    write_point_cloud(out, points.numpy())
    print(f"{len(points)} points -> {out}")


cli = MemberCLI("npbgpp", __doc__, load)
cli.add("make-data", cmd_make_data, "generate the built-in scenes (or check that the configured real scenes load)")
cli.add("train", cmd_train, "train over the training scenes (resumes from checkpoints/last.ckpt)", kind="new")
cli.add("pipeline", cmd_pipeline, "make-data -> train -> eval (exit 3 when an opt-in time limit cut training)",
        kind="new", report=True)
cli.add("eval", cmd_eval, "re-evaluate a trained run", kind="existing", report=True)
build = cli.add("build", cmd_build, "modeling stage: a scene's input views + cloud -> saved descriptors",
                kind="existing")
build.add_argument("--scene", required=True, help="scene name under the data root")
build.add_argument("--out", required=True, type=Path, help="file to write (.pt)")
render = cli.add("render", cmd_render, "render a built scene for cameras (.npz) or an orbit", kind="existing")
render.add_argument("--scene-file", required=True, type=Path, help="a scene written by 'npbgpp build'")
render.add_argument("--cameras", type=Path, help="npz with intrinsics (N,3,3), w2c (N,4,4), optional height, width")
render.add_argument("--orbit", type=int, default=36, help="orbit frames when --cameras is not given")
render.add_argument("--out", required=True, type=Path, help="folder for PNGs, or .mp4/.gif")
view = cli.add("view", cmd_view, "browser viewer: fly the camera and see NPBG++ render the scene live, with the "
               "input cameras and the point cloud", kind="existing")
view.add_argument("--scene", help="scene name under the data root, built when the viewer starts (default: the first "
                                  "hold-out scene)")
view.add_argument("--scene-file", type=Path, help="a scene written by 'npbgpp build'")
view.add_argument("--render-height", type=int, default=256, help="starting render height in pixels (default 256)")
add_view_arguments(view)
points = cli.add("make-points", cmd_make_points, "a scene's point cloud from its posed images: visual-hull carving "
                 "from alpha (NeRF-Synthetic) or masks (DTU), back-projected depth/<frame>.npy where present")
points.add_argument("--scene-dir", required=True, type=Path, help="a NeRF-Synthetic scene or a DTU scan (IDR layout)")
points.add_argument("--out", type=Path, help="PLY to write (default: SCENE_DIR/points.ply)")
finetune = cli.add("finetune", cmd_finetune, "per-scene fine-tuning (ft, ft-system) or the NPBG baseline",
                   kind="existing")
finetune.add_argument("--scene", required=True, help="scene name under the data root")
finetune.add_argument("--mode", choices=["ft", "ft-system", "baseline"], default="ft")
finetune.add_argument("--output-dir", type=Path, help="default: RUN/<mode>/<scene>")


def main(argv=None) -> int:
    # Progress goes to stdout: stderr carries only the one-line error of a failed command.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
