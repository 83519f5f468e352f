"""Evaluation of a trained run: bits/dim (temporal, per-frame, uniform), reconstruction quality, samples primed
with real frames (labelled PNG figures with captions, GIF, MP4), the last-frame baseline and FVD when I3D weights
are present. Writes metrics.json (with headline and provenance), results.md and pictures/."""

from __future__ import annotations

import math

import numpy as np
import torch
from shared_utils.errors import InputError
from shared_utils.io import markdown_table, write_video
from shared_utils.metrics import psnr, ssim
from shared_utils.run import RunClock, RunDir, provenance
from shared_utils.runtime import select_device

from lvt.config import LVTConfig
from lvt.data.videos import build_video_dataset, to_unit_range
from lvt.fvd import fvd, fvd_unavailable_reason, load_i3d
from lvt.latents import load_latents
from lvt.losses import dataset_bits_per_dim
from lvt.models.transformer import LatentVideoTransformer
from lvt.models.vqvae import VQVAE
from lvt.pictures import comparison_rows, labelled_animation, video_rows_figure
from lvt.sampling import sample_latents
from lvt.train import (
    TRANSFORMER_STAGES,
    WEIGHTS,
    frames_as_videos,
    latents_path,
    load_transformer,
    load_vqvae,
    stage_dir,
    stage_records,
)

SUMMARY_PICTURE = "summary.png"
THESIS_BAIR = [
    ("Baseline (last frame)", "-", "320.90"),
    ("LVT (n_c = 1)", "1.25", "275.71 ± 5.41"),
    ("LVT (n_c = 4)", "1.53", "125.8 ± 2.9"),
]


@torch.no_grad()
def decode_latent_videos(vqvae: VQVAE, codes: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """codes (N, T, h, w, n_c) -> uint8 videos (N, T, H, W, 3)."""
    flat = codes.flatten(0, 1).permute(0, 3, 1, 2)
    device = next(vqvae.parameters()).device
    chunks = [vqvae.decode(flat[i : i + batch_size].to(device)).cpu() for i in range(0, len(flat), batch_size)]
    frames = torch.cat(chunks)
    frames = (to_unit_range(frames) * 255.0).round().to(torch.uint8)
    return frames.reshape(*codes.shape[:2], *frames.shape[1:])


def _unit_chw(videos: torch.Tensor) -> torch.Tensor:
    return videos.float().div(255.0).movedim(-1, -3)


def frame_psnr_ssim(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR / SSIM over all frames of uint8 videos (N, T, H, W, 3)."""
    p, t = _unit_chw(pred).flatten(0, 1), _unit_chw(target).flatten(0, 1)
    return float(psnr(p, t).mean()), float(ssim(p, t).mean())


def write_sample_pictures(run: RunDir, folder: str, real: torch.Tensor, generated: torch.Tensor, primed: int,
                          cfg: LVTConfig) -> None:
    """``{folder}samples.png`` (ground truth and sample rows per video) and an animation of both."""
    rows = comparison_rows(real.numpy(), generated.numpy(), "sampled", generated=True)
    title = (f"LVT samples: {primed} real priming frame(s) (green), the rest generated (orange), "
             f"temperature {cfg.sample.temperature}")
    video_rows_figure(run.pictures / f"{folder}samples.png", rows, primed, title)
    run.add_caption(f"{folder}samples.png",
                    f"Two rows per test video: the ground truth, then the LVT sample primed with its first {primed} "
                    f"real frame(s) (green border) and generated after them (orange border); column t is frame t.")
    animation = labelled_animation(real.numpy(), generated.numpy(), primed)
    for suffix in ("gif", "mp4"):
        write_video(run.pictures / f"{folder}samples.{suffix}", animation, fps=cfg.sample.fps)
        run.add_caption(f"{folder}samples.{suffix}",
                        f"Top row: the ground truth test videos side by side; bottom row: the LVT sample of each "
                        f"(the first {primed} frame(s) are the real priming frames, as the green label says).")


def write_reconstruction_picture(run: RunDir, real: torch.Tensor, reconstructed: torch.Tensor) -> None:
    rows = comparison_rows(real.numpy(), reconstructed.numpy(), "VQ-VAE", generated=False)
    video_rows_figure(run.pictures / "reconstructions.png", rows, 0,
                      "VQ-VAE: ground truth frames and their reconstruction from the latent codes")
    run.add_caption("reconstructions.png", "Two rows per test video: the ground truth, then the VQ-VAE's "
                    "reconstruction of every frame from its discrete codes; column t is frame t.")


def write_summary_picture(run: RunDir, real: torch.Tensor, generated: torch.Tensor, primed: int,
                          metrics: dict) -> None:
    count = min(4, len(real))
    rows = comparison_rows(real[:count].numpy(), generated[:count].numpy(), "sampled", generated=True)
    title = (f"LVT: ground truth vs samples after {primed} real frame(s) (green); generated frames orange. "
             f"Test bits/dim {metrics['bits_per_dim']:.3f} (uniform {metrics['bits_per_dim_uniform']:.1f})")
    video_rows_figure(run.pictures / SUMMARY_PICTURE, rows, primed, title)
    run.add_caption(SUMMARY_PICTURE, f"The first {count} test videos, each as ground truth and as the LVT sample "
                    f"primed with {primed} real frame(s) (green border); orange frames are generated.")


def results_markdown(metrics: dict, cfg: LVTConfig) -> str:
    def number(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    fvd_text = number(metrics["fvd"], 2)
    if metrics["fvd"] is not None and metrics["fvd_std"]:
        fvd_text += f" ± {metrics['fvd_std']:.2f}"
    ours = [
        ("Uniform over K codes", number(metrics["bits_per_dim_uniform"]), "-"),
        ("Per-frame transformer (no temporal context)", number(metrics["bits_per_dim_no_temporal"]), "-"),
        ("Last-frame baseline", "-", number(metrics["fvd_last_frame_baseline"], 2)),
        (f"LVT (n_c = {metrics['num_channels']}, this run)", number(metrics["bits_per_dim"]), fvd_text),
    ]
    lines = [
        "# LVT results",
        "",
        f"Data: `{cfg.data.source}`, {cfg.data.num_frames} frames of {cfg.data.resolution}x{cfg.data.resolution}; "
        f"latents {metrics['latent_shape']} (T, h, w, n_c), K = {metrics['codebook_size']}. bits/dim with "
        f"{metrics['bits_priming_frames']} priming frame(s); samples with {metrics['sample_priming_frames']}.",
        "",
        "## This run",
        "",
        markdown_table(["Method", "bits/dim (↓)", "FVD (↓)"], ours),
        "",
        markdown_table(
            ["Quantity", "Value"],
            [
                ("VQ-VAE reconstruction PSNR (dB)", number(metrics["recon_psnr"], 2)),
                ("VQ-VAE reconstruction SSIM", number(metrics["recon_ssim"])),
                ("Generated frames PSNR vs ground truth (dB)", number(metrics["sample_psnr"], 2)),
                ("Last-frame baseline PSNR vs ground truth (dB)", number(metrics["last_frame_psnr"], 2)),
            ],
        ),
        "",
        f"FVD: {'computed' if metrics['fvd'] is not None else 'not computed: ' + str(metrics['fvd_reason'])}.",
        "",
        "## Thesis Table 1a (BAIR robot pushing, 16 frames)",
        "",
        markdown_table(["Method", "bits/dim (↓)", "FVD (↓)"], THESIS_BAIR),
        "",
        "The numbers of this run come from its own data set and sizes and are not comparable with the thesis rows "
        "unless the run used the thesis config on BAIR.",
        "",
    ]
    return "\n".join(lines)


def headline(metrics: dict) -> dict:
    """The numbers the workspace README shows for LVT."""
    return {
        "LVT bits/dim": round(metrics["bits_per_dim"], 3),
        "per-frame bits/dim": None if metrics["bits_per_dim_no_temporal"] is None
        else round(metrics["bits_per_dim_no_temporal"], 3),
        "reconstruction PSNR dB": round(metrics["recon_psnr"], 2),
    }


def evaluate(cfg: LVTConfig, run_dir, clock: RunClock | None = None) -> dict:
    """Metrics, results table and pictures of a trained run; ``clock`` times the command (pipeline: from its start)."""
    clock = clock or RunClock()
    run = RunDir(run_dir)
    device = select_device(cfg.device)
    vqvae = load_vqvae(run).to(device)
    test_videos_ds = build_video_dataset(cfg.data, "test")
    limit = len(test_videos_ds)
    if cfg.eval.max_test_videos is not None:
        limit = min(cfg.eval.max_test_videos, limit)
    test_videos = torch.stack([test_videos_ds[i] for i in range(limit)])
    test_codes = load_latents(latents_path(run, "test"), vqvae)[:limit]
    if len(test_codes) < limit:
        raise InputError(f"latent cache '{latents_path(run, 'test')}' holds {len(test_codes)} test videos, "
                         f"the data set {limit}")

    reconstructed = decode_latent_videos(vqvae, test_codes)
    recon_psnr, recon_ssim = frame_psnr_ssim(reconstructed, test_videos)

    priming = cfg.transformer.num_priming_frames
    model = load_transformer(run, temporal=True).to(device)
    bpd = dataset_bits_per_dim(model, test_codes, priming)
    bpd_no_temporal = None
    if (stage_dir(run, TRANSFORMER_STAGES[False]) / WEIGHTS).is_file():
        per_frame = load_transformer(run, temporal=False).to(device)
        bpd_no_temporal = dataset_bits_per_dim(per_frame, frames_as_videos(test_codes, priming), 0)

    sample_priming = min(cfg.sample.num_priming_frames, cfg.data.num_frames - 1)
    count = min(cfg.sample.num_videos, limit)
    real = test_videos[:count]
    generated = primed_samples(model, vqvae, test_codes[:count], real, sample_priming, cfg.sample.seed,
                               cached=cfg.sample.cached, temperature=cfg.sample.temperature)
    last_frame = real[:, sample_priming - 1 : sample_priming].expand_as(real).clone()
    sample_psnr, sample_ssim = frame_psnr_ssim(generated[:, sample_priming:], real[:, sample_priming:])
    last_psnr, last_ssim = frame_psnr_ssim(last_frame[:, sample_priming:], real[:, sample_priming:])

    fvd_value = fvd_std = fvd_baseline = None
    reason = fvd_unavailable_reason(cfg.data.num_frames, cfg.eval.i3d_weights)
    if reason is None:
        fvd_value, fvd_std, fvd_baseline = _fvd_trials(
            cfg, model, vqvae, test_codes, test_videos, sample_priming, device
        )

    metrics = {
        "bits_per_dim": bpd,
        "bits_per_dim_uniform": math.log2(vqvae.codebook_size),
        "bits_per_dim_no_temporal": bpd_no_temporal,
        "recon_psnr": recon_psnr,
        "recon_ssim": recon_ssim,
        "fvd": fvd_value,
        "fvd_std": fvd_std,
        "fvd_reason": reason,
        "fvd_last_frame_baseline": fvd_baseline,
        "sample_psnr": sample_psnr,
        "sample_ssim": sample_ssim,
        "last_frame_psnr": last_psnr,
        "last_frame_ssim": last_ssim,
        "sampler": "cached" if cfg.sample.cached else "naive",
        "num_test_videos": limit,
        "num_sampled_videos": count,
        "bits_priming_frames": priming,
        "sample_priming_frames": sample_priming,
        "latent_shape": list(test_codes.shape[1:]),
        "num_channels": vqvae.num_parts,
        "codebook_size": vqvae.codebook_size,
    }
    metrics["headline"] = headline(metrics)

    write_sample_pictures(run, "", real, generated, sample_priming, cfg)
    write_reconstruction_picture(run, test_videos[: min(4, limit)], reconstructed[: min(4, limit)])
    write_summary_picture(run, real, generated, sample_priming, metrics)

    records = stage_records(run)
    block = provenance(cfg, seed=cfg.seed, steps={name: record.steps for name, record in records.items()},
                       wall_time_s=clock.seconds(),
                       time_limit_reached=any(record.time_limit_reached for record in records.values()))
    run.write_metrics(metrics, block)
    run.write_results(results_markdown(metrics, cfg))
    return run.read_metrics()


def primed_samples(model: LatentVideoTransformer, vqvae: VQVAE, codes: torch.Tensor, real: torch.Tensor,
                   priming: int, seed: int, cached: bool = True, temperature: float = 1.0) -> torch.Tensor:
    """uint8 videos: the real priming frames (thesis Fig. 3), then frames decoded from sampled codes."""
    device = next(model.parameters()).device
    sampled = sample_latents(model, codes[:, :priming].to(device), seed, cached=cached, temperature=temperature)
    generated = decode_latent_videos(vqvae, sampled.cpu())
    generated[:, :priming] = real[:, :priming]
    return generated


def fvd_sample_videos(model: LatentVideoTransformer, vqvae: VQVAE, codes: torch.Tensor, real: torch.Tensor,
                      priming: int, batch_size: int, seed: int) -> torch.Tensor:
    """One generated video per real one (``len(real)`` of them), sampled ``batch_size`` at a time."""
    count = len(real)
    batches = []
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        batches.append(primed_samples(model, vqvae, codes[start:stop], real[start:stop], priming, seed + start))
    return torch.cat(batches)


def _fvd_trials(cfg, model, vqvae, test_codes, test_videos, priming, device) -> tuple[float, float, float]:
    """FVD of generated videos (mean and std over trials) and of the last-frame baseline, against real videos."""
    i3d = load_i3d(cfg.eval.i3d_weights).to(device)
    count = min(cfg.eval.fvd_num_videos, len(test_codes))
    real = test_videos[:count]
    values = []
    for trial in range(cfg.eval.fvd_trials):
        videos = fvd_sample_videos(model, vqvae, test_codes, real, priming, cfg.eval.fvd_batch_size,
                                   cfg.sample.seed + 1000 * trial)
        values.append(fvd(i3d, real, videos, cfg.eval.fvd_batch_size))
    baseline = real[:, priming - 1 : priming].expand_as(real).clone()
    baseline[:, :priming] = real[:, :priming]
    return float(np.mean(values)), float(np.std(values)), fvd(i3d, real, baseline, cfg.eval.fvd_batch_size)
