"""Console script ``npbgpp``: pipeline, train, eval, build, render, finetune."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from shared_utils.config import load_config
from shared_utils.errors import InputError, cli_entry
from shared_utils.io import atomic_torch_save, save_json, write_image, write_video
from shared_utils.weights import load_state_dict_file

from npbgpp.config import NPBGPPConfig, load
from npbgpp.eval import ImageMetrics, _render_cameras, evaluate, orbit_cameras
from npbgpp.finetune import build_scene, fit_scene, render_views
from npbgpp.models.npbgpp import PointDescriptors
from npbgpp.scenes.datasets import load_named_scene
from npbgpp.train import CONFIG_FILE, MODEL_FILE, load_trained_model, train

log = logging.getLogger("npbgpp")


def _config(args) -> NPBGPPConfig:
    return load(args.config, args.overrides)


def _run_config(args) -> NPBGPPConfig:
    """The configuration saved with a run (plus overrides), or --config when the run has none."""
    saved = Path(args.run_dir) / CONFIG_FILE
    if saved.is_file():
        return load_config(NPBGPPConfig, saved, args.overrides)
    return _config(args)


def _trained_steps(run_dir: Path) -> int:
    path = run_dir / MODEL_FILE
    return int(load_state_dict_file(path).get("step", 0)) if path.is_file() else -1


def cmd_pipeline(args) -> None:
    cfg = _config(args)
    out = Path(args.output_dir)
    if _trained_steps(out) >= cfg.train.trainer.max_steps:
        log.info("training already finished in %s; reusing model.pt", out)
    else:
        train(cfg, out)
    summary = evaluate(cfg, out)
    print(summary)


def cmd_train(args) -> None:
    train(_config(args), Path(args.output_dir))


def cmd_eval(args) -> None:
    print(evaluate(_run_config(args), Path(args.run_dir)))


def cmd_build(args) -> None:
    cfg, model = load_trained_model(Path(args.run_dir), _run_config(args))
    scene = load_named_scene(cfg, args.scene)
    descriptors = build_scene(model, scene)
    atomic_torch_save({**descriptors.state_dict(), "intrinsics": scene.intrinsics, "w2c": scene.w2c,
                       "height": scene.height, "width": scene.width, "scene": scene.name}, args.out)
    print(f"built scene '{scene.name}': {descriptors.points.shape[0]} of {scene.points.shape[0]} points seen "
          f"-> {args.out}")


def _load_built_scene(path) -> dict:
    data = load_state_dict_file(path)
    missing = {"points", "beta", "beta0", "height", "width"} - set(data)
    if missing:
        raise InputError(f"built scene '{path}' lacks {sorted(missing)}")
    return data


def cmd_render(args) -> None:
    cfg, model = load_trained_model(Path(args.run_dir), _run_config(args))
    built = _load_built_scene(args.scene_file)
    descriptors = PointDescriptors(built["points"], built["beta"], built["beta0"])
    height, width = int(built["height"]), int(built["width"])
    if args.cameras:
        with np.load(args.cameras) as cameras:
            intrinsics = torch.as_tensor(cameras["intrinsics"], dtype=torch.float32).reshape(-1, 3, 3)
            w2c = torch.as_tensor(cameras["w2c"], dtype=torch.float32).reshape(-1, 4, 4)
            height = int(cameras["height"]) if "height" in cameras else height
            width = int(cameras["width"]) if "width" in cameras else width
    else:
        from npbgpp.scenes.scene import SceneData

        scene = SceneData("built", torch.zeros(len(built["w2c"]), 3, height, width), built["intrinsics"],
                          built["w2c"], built["points"], torch.zeros(len(built["w2c"]), dtype=torch.bool))
        intrinsics, w2c = orbit_cameras(scene, args.orbit, cfg.render.up_axis)
    images = _render_cameras(model, descriptors, intrinsics, w2c, height, width)
    out = Path(args.out)
    frames = images.permute(0, 2, 3, 1).numpy()
    if out.suffix in {".mp4", ".gif"}:
        write_video(out, frames, fps=cfg.eval.orbit_fps)
    else:
        for index, frame in enumerate(frames):
            write_image(out / f"{index:04d}.png", frame)
    print(f"rendered {len(frames)} images -> {out}")


def cmd_finetune(args) -> None:
    cfg, model = load_trained_model(Path(args.run_dir), _run_config(args))
    scene = load_named_scene(cfg, args.scene)
    output_dir = Path(args.output_dir or Path(args.run_dir) / args.mode / scene.name)
    descriptors = build_scene(model, scene) if args.mode == "ft" else None
    fitted, timeline = fit_scene(model, scene, args.mode, cfg, output_dir, descriptors)
    frames = scene.holdout_indices
    metrics = ImageMetrics(cfg.eval.crop_border, cfg.eval.lpips_net)
    result = metrics(render_views(fitted.render, scene, frames), scene.images[frames])
    save_json({"scene": scene.name, "mode": args.mode, "metrics": result, "timeline": timeline},
              output_dir / "finetune_metrics.json")
    print(result)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npbgpp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, help_text):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--config", default="cpu", help="packaged config name or YAML path (default: cpu)")
        command.add_argument("overrides", nargs="*", help="key=value config overrides")
        command.set_defaults(func=func)
        return command

    add("pipeline", cmd_pipeline, "data -> train -> eval on the CPU config").add_argument(
        "--output-dir", default="outputs/npbg/default")
    add("train", cmd_train, "train over the training scenes").add_argument(
        "--output-dir", default="outputs/npbg/default")
    add("eval", cmd_eval, "re-evaluate a trained run").add_argument("--run-dir", default="outputs/npbg/default")
    build = add("build", cmd_build, "modeling stage: views + cloud of a scene -> saved descriptors")
    build.add_argument("--run-dir", default="outputs/npbg/default")
    build.add_argument("--scene", required=True)
    build.add_argument("--out", required=True)
    render = add("render", cmd_render, "render a built scene for cameras (npz) or an orbit")
    render.add_argument("--run-dir", default="outputs/npbg/default")
    render.add_argument("--scene-file", required=True)
    render.add_argument("--cameras", help="npz with intrinsics (N,3,3), w2c (N,4,4), optional height, width")
    render.add_argument("--orbit", type=int, default=36, help="orbit frames when --cameras is not given")
    render.add_argument("--out", required=True, help="folder for PNGs, or .mp4/.gif")
    finetune = add("finetune", cmd_finetune, "per-scene fine-tuning (ft, ft-system) or the NPBG baseline")
    finetune.add_argument("--run-dir", default="outputs/npbg/default")
    finetune.add_argument("--scene", required=True)
    finetune.add_argument("--mode", choices=["ft", "ft-system", "baseline"], default="ft")
    finetune.add_argument("--output-dir")
    return parser


@cli_entry
def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
