"""Console script ``lvt``: the two training stages, latent extraction, sampling, evaluation and the pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from shared_utils.config import save_config
from shared_utils.errors import InputError, cli_entry
from shared_utils.runtime import select_device

from lvt.config import LVTConfig, load_lvt_config

DEFAULT_RUN = "outputs/lvt/default"


def _config(args) -> LVTConfig:
    """--config when given; else the run folder's own config.yaml (eval/sample) or the CPU config."""
    name = args.config
    if name is None:
        saved = Path(args.run_dir) / "config.yaml"
        name = str(saved) if saved.is_file() else "cpu"
    return load_lvt_config(name, args.overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lvt", description="Latent Video Transformer (thesis section 3.1)")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "pipeline": "data -> VQ-VAE -> latents -> transformers -> evaluation (make train-lvt)",
        "train-vqvae": "train the frame VQ-VAE (stage 1)",
        "encode": "encode the train/test videos to latent codes cached with the codebook hash",
        "train-transformer": "train the latent transformer (stage 2) and, if configured, the per-frame model",
        "sample": "prime with real frames and generate the rest; writes the grid, GIF and MP4",
        "eval": "re-evaluate a trained run and rewrite metrics.json and results.md",
    }
    for name, help_text in commands.items():
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--config", default=None, help="shipped config name (cpu, thesis, ...) or YAML path")
        folder = "--output-dir" if name in ("pipeline", "train-vqvae", "encode", "train-transformer") else "--run-dir"
        command.add_argument(folder, dest="run_dir", default=DEFAULT_RUN, help="run folder")
        if name == "sample":
            command.add_argument("--naive", action="store_true", help="use the naive (uncached) sampler")
        command.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. vqvae.trainer.max_steps=10")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    for item in args.overrides:
        if "=" not in item:
            raise InputError(f"override '{item}' is not of the form key=value")
    cfg = _config(args)
    torch.set_float32_matmul_precision("high")
    run_dir = Path(args.run_dir)
    from lvt import eval as evaluation
    from lvt import train

    if args.command in ("pipeline", "train-vqvae", "encode", "train-transformer"):
        save_config(cfg, run_dir / "config.yaml")
    if args.command == "pipeline":
        train.run_training(cfg, run_dir)
        metrics = evaluation.evaluate(cfg, run_dir)
        _report(metrics, run_dir)
    elif args.command == "train-vqvae":
        print(f"VQ-VAE weights: {train.train_vqvae(cfg, run_dir)}")
    elif args.command == "encode":
        train_codes, test_codes = train.encode_latents(cfg, run_dir)
        print(f"latents: train {tuple(train_codes.shape)}, test {tuple(test_codes.shape)} in {run_dir / 'latents'}")
    elif args.command == "train-transformer":
        print(f"transformer weights: {train.train_transformer(cfg, run_dir, temporal=True)}")
        if cfg.transformer.train_no_temporal:
            print(f"per-frame transformer weights: {train.train_transformer(cfg, run_dir, temporal=False)}")
    elif args.command == "sample":
        _sample(cfg, run_dir, cached=not args.naive)
    elif args.command == "eval":
        _report(evaluation.evaluate(cfg, run_dir), run_dir)


def _sample(cfg: LVTConfig, run_dir: Path, cached: bool) -> None:
    from lvt.data.videos import build_video_dataset
    from lvt.eval import decode_latent_videos, write_pictures
    from lvt.latents import load_latents
    from lvt.sampling import sample_latents
    from lvt.train import load_transformer, load_vqvae

    device = select_device(cfg.device)
    vqvae = load_vqvae(run_dir).to(device)
    model = load_transformer(run_dir).to(device)
    codes = load_latents(run_dir / "latents" / "test.pt", vqvae)
    videos = build_video_dataset(cfg.data, "test")
    count = min(cfg.sample.num_videos, len(codes))
    priming = min(cfg.sample.num_priming_frames, cfg.data.num_frames - 1)
    sampled = sample_latents(model, codes[:count, :priming].to(device), cfg.sample.seed, cached=cached,
                             temperature=cfg.sample.temperature)
    generated = decode_latent_videos(vqvae, sampled.cpu())
    real = torch.stack([videos[i] for i in range(count)])
    generated[:, :priming] = real[:, :priming]
    out = run_dir / "samples"
    write_pictures(out, real, generated, cfg.sample.fps)
    print(f"samples written to {out}")


def _report(metrics: dict, run_dir: Path) -> None:
    keys = ("bits_per_dim", "bits_per_dim_uniform", "bits_per_dim_no_temporal", "recon_psnr", "sample_psnr",
            "last_frame_psnr", "fvd")
    for key in keys:
        print(f"{key}: {metrics[key]}")
    if metrics["fvd"] is None:
        print(f"fvd_reason: {metrics['fvd_reason']}")
    print(f"metrics: {run_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
