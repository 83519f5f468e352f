"""Evaluation of a trained run: bits/dim (temporal, per-frame, uniform), reconstruction quality, samples primed
with real frames (PNG grid, GIF, MP4), the last-frame baseline and FVD when I3D weights are present."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from shared_utils.io import image_grid, markdown_table, save_json, write_image, write_markdown, write_video
from shared_utils.metrics import psnr, ssim
from shared_utils.runtime import select_device

from lvt.config import LVTConfig
from lvt.data.videos import build_video_dataset, to_unit_range
from lvt.fvd import fvd, fvd_unavailable_reason, load_i3d
from lvt.latents import load_latents
from lvt.losses import dataset_bits_per_dim
from lvt.models.vqvae import VQVAE
from lvt.sampling import sample_latents
from lvt.train import frames_as_videos, load_transformer, load_vqvae

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


def write_pictures(out: Path, real: torch.Tensor, generated: torch.Tensor, fps: int) -> None:
    """Grid rows: one video each, real priming frames then generated ones (thesis Fig. 3); plus the ground truth
    grid and an animation with real (top) and generated (bottom) side by side per video."""
    def rows(videos: torch.Tensor) -> list[np.ndarray]:
        return [frame.numpy().astype(np.float32) / 255.0 for video in videos for frame in video]

    columns = generated.shape[1]
    write_image(out / "samples_grid.png", image_grid(rows(generated), ncols=columns))
    write_image(out / "ground_truth_grid.png", image_grid(rows(real), ncols=columns))
    # one animation frame: the videos side by side, real on top, generated below
    top = torch.cat(list(real), dim=2)
    bottom = torch.cat(list(generated), dim=2)
    animation = torch.cat([top, bottom], dim=1).numpy()
    write_video(out / "samples.gif", animation, fps=fps)
    write_video(out / "samples.mp4", animation, fps=fps)


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
                ("Cached sampling, seconds per generated frame", number(metrics["sample_seconds_per_frame"], 3)),
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


def evaluate(cfg: LVTConfig, run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    device = select_device(cfg.device)
    vqvae = load_vqvae(run_dir).to(device)
    test_videos_ds = build_video_dataset(cfg.data, "test")
    limit = len(test_videos_ds)
    if cfg.eval.max_test_videos is not None:
        limit = min(cfg.eval.max_test_videos, limit)
    test_videos = torch.stack([test_videos_ds[i] for i in range(limit)])
    test_codes = load_latents(run_dir / "latents" / "test.pt", vqvae)[:limit]

    recon_psnr, recon_ssim = frame_psnr_ssim(decode_latent_videos(vqvae, test_codes), test_videos)

    priming = cfg.transformer.num_priming_frames
    model = load_transformer(run_dir, temporal=True).to(device)
    bpd = dataset_bits_per_dim(model, test_codes, priming)
    bpd_no_temporal = None
    if (run_dir / "transformer_no_temporal" / "transformer.pt").is_file():
        per_frame = load_transformer(run_dir, temporal=False).to(device)
        bpd_no_temporal = dataset_bits_per_dim(per_frame, frames_as_videos(test_codes, priming), 0)

    sample_priming = min(cfg.sample.num_priming_frames, cfg.data.num_frames - 1)
    count = min(cfg.sample.num_videos, limit)
    primer = test_codes[:count, :sample_priming].to(device)
    start = time.perf_counter()
    sampled = sample_latents(
        model, primer, cfg.sample.seed, cached=cfg.sample.cached, temperature=cfg.sample.temperature
    )
    seconds_per_frame = (time.perf_counter() - start) / max(1, cfg.data.num_frames - sample_priming)
    generated = decode_latent_videos(vqvae, sampled.cpu())
    # thesis Fig. 3: real priming frames, then generated ones
    generated[:, :sample_priming] = test_videos[:count, :sample_priming]
    real = test_videos[:count]
    last_frame = real[:, sample_priming - 1 : sample_priming].expand_as(real).clone()
    sample_psnr, sample_ssim = frame_psnr_ssim(generated[:, sample_priming:], real[:, sample_priming:])
    last_psnr, last_ssim = frame_psnr_ssim(last_frame[:, sample_priming:], real[:, sample_priming:])
    write_pictures(run_dir, real, generated, cfg.sample.fps)

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
        "sample_seconds_per_frame": seconds_per_frame,
        "sampler": "cached" if cfg.sample.cached else "naive",
        "num_test_videos": limit,
        "num_sampled_videos": count,
        "bits_priming_frames": priming,
        "sample_priming_frames": sample_priming,
        "latent_shape": list(test_codes.shape[1:]),
        "num_channels": vqvae.num_parts,
        "codebook_size": vqvae.codebook_size,
    }
    save_json(metrics, run_dir / "metrics.json")
    write_markdown(run_dir / "results.md", results_markdown(metrics, cfg))
    return metrics


def _fvd_trials(cfg, model, vqvae, test_codes, test_videos, priming, device) -> tuple[float, float, float]:
    """FVD of generated videos (mean and std over trials) and of the last-frame baseline, against real videos."""
    i3d = load_i3d(cfg.eval.i3d_weights).to(device)
    count = min(cfg.eval.fvd_num_videos, len(test_codes))
    real = test_videos[:count]
    values = []
    for trial in range(cfg.eval.fvd_trials):
        generated = []
        for start in range(0, count, cfg.eval.fvd_batch_size):
            primer = test_codes[start : start + cfg.eval.fvd_batch_size, :priming].to(device)
            sampled = sample_latents(model, primer, cfg.sample.seed + 1000 * trial + start, cached=True)
            generated.append(decode_latent_videos(vqvae, sampled.cpu()))
        videos = torch.cat(generated)
        videos[:, :priming] = real[:, :priming]
        values.append(fvd(i3d, real, videos, cfg.eval.fvd_batch_size))
    baseline = real[:, priming - 1 : priming].expand_as(real).clone()
    baseline[:, :priming] = real[:, :priming]
    return float(np.mean(values)), float(np.std(values)), fvd(i3d, real, baseline, cfg.eval.fvd_batch_size)
