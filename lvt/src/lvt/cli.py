"""Latent Video Transformer (thesis section 3.1): data, the two training stages, evaluation, sampling."""

from __future__ import annotations

from shared_utils.cli import MemberCLI
from shared_utils.run import RunClock, RunDir, pipeline_exit_code

from lvt import config

HEADLINE_KEYS = ("bits_per_dim", "bits_per_dim_uniform", "bits_per_dim_no_temporal", "recon_psnr", "sample_psnr",
                 "last_frame_psnr", "fvd")
SAMPLE_FOLDER = "sampled/"


def _make_data(args, cfg) -> None:
    from lvt.data.videos import prepare_videos

    print(prepare_videos(cfg.data))


def _train(args, cfg) -> None:
    from lvt.train import train

    print(f"trained run: {train(cfg, args.output_dir)}")


def _print_metrics(metrics: dict, run: RunDir) -> None:
    for key in HEADLINE_KEYS:
        print(f"{key}: {metrics[key]}")
    if metrics["fvd"] is None:
        print(f"fvd_reason: {metrics['fvd_reason']}")
    print(f"wrote {run.metrics}, {run.results} and {run.pictures}/")


def _eval(args, cfg) -> None:
    from lvt.evaluate import evaluate

    _print_metrics(evaluate(cfg, args.run_dir), RunDir(args.run_dir))


def _pipeline(args, cfg) -> int:
    from lvt.data.videos import prepare_videos
    from lvt.evaluate import evaluate
    from lvt.train import train

    clock = RunClock()
    print(prepare_videos(cfg.data))
    run = RunDir(train(cfg, args.output_dir))
    metrics = evaluate(cfg, run.path, clock=clock)
    _print_metrics(metrics, run)
    return pipeline_exit_code(metrics)


def _sample(args, cfg) -> None:
    import torch

    from lvt.data.videos import build_video_dataset
    from lvt.evaluate import primed_samples, write_sample_pictures
    from lvt.latents import load_latents
    from lvt.train import latents_path, load_transformer, load_vqvae

    run = RunDir(args.run_dir)
    vqvae = load_vqvae(run)
    model = load_transformer(run)
    codes = load_latents(latents_path(run, "test"), vqvae)
    videos = build_video_dataset(cfg.data, "test")
    count = min(cfg.sample.num_videos, len(codes), len(videos))
    priming = min(cfg.sample.num_priming_frames, cfg.data.num_frames - 1)
    real = torch.stack([videos[i] for i in range(count)])
    generated = primed_samples(model, vqvae, codes[:count], real, priming, cfg.sample.seed,
                               cached=not args.naive, temperature=cfg.sample.temperature)
    write_sample_pictures(run, SAMPLE_FOLDER, real, generated, priming, cfg)
    print(f"samples written to {run.pictures / SAMPLE_FOLDER}")


cli = MemberCLI("lvt", __doc__, config.load)
cli.add("make-data", _make_data, "generate the built-in sprite videos, or check every video of a real data set")
cli.add("train", _train, "train the VQ-VAE, encode the latents, train the transformers (resumes; finished stages "
        "are reused)", kind="new")
cli.add("eval", _eval, "evaluate a trained run: metrics.json, results.md, pictures/", kind="existing", report=True)
cli.add("pipeline", _pipeline, "make-data + train + eval (make train-lvt); exits 3 when an opt-in time limit cut "
        "training short", kind="new", report=True)
cli.add("sample", _sample, "prime with real test frames and generate the rest: pictures/sampled/",
        kind="existing").add_argument("--naive", action="store_true", help="use the naive (uncached) sampler")
main = cli.main

if __name__ == "__main__":
    main()
