"""LVT benchmarks (make bench-lvt): prints a table and writes JSON to outputs/lvt/bench/.

1. sampling: seconds per generated frame, naive re-run sampler vs cached sampler, same model and seed (and
   whether the samples agree);
2. training memory: bytes saved for backward in one training step of the same transformer on latents
   (16 x 16 x 16 x n_c codes) vs on pixels (16 x 64 x 64 x 3 values), plus peak CUDA memory when on a GPU.
Sizes are reduced from the thesis so the script finishes in minutes on a CPU; ratios are what matter.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from lvt.losses import slice_cross_entropy
from lvt.models.transformer import LatentVideoTransformer
from lvt.sampling import sample_latents
from shared_utils.io import markdown_table, save_json


def small_transformer(video_shape, num_channels, codebook_size, block, device) -> LatentVideoTransformer:
    return LatentVideoTransformer(
        video_shape=video_shape,
        num_channels=num_channels,
        codebook_size=codebook_size,
        subscale=(video_shape[0], 1, 1),
        embedding_dim=32,
        width=64,
        attention_dim=32,
        ffn_dim=128,
        num_heads=4,
        encoder_layers=2,
        decoder_layers=2,
        encoder_blocks=[block],
        decoder_blocks=[block],
    ).to(device)


def bench_sampling(device: torch.device, frames: int, size: int) -> dict:
    torch.manual_seed(0)
    model = small_transformer((frames, size, size), 1, 64, (1, size, size), device).eval()
    primer = torch.randint(0, 64, (2, 1, size, size, 1), device=device)
    timings, samples = {}, {}
    for name, cached in (("naive", False), ("cached", True)):
        start = time.perf_counter()
        samples[name] = sample_latents(model, primer, seed=0, cached=cached)
        timings[name] = (time.perf_counter() - start) / (frames - 1)
    agreement = (samples["naive"] == samples["cached"]).float().mean().item()
    return {
        "latent_video": [frames, size, size, 1],
        "naive_seconds_per_frame": timings["naive"],
        "cached_seconds_per_frame": timings["cached"],
        "speedup": timings["naive"] / timings["cached"],
        "identical_fraction_float32": agreement,
    }


def saved_activation_bytes(model: LatentVideoTransformer, video: torch.Tensor) -> tuple[int, float]:
    """Bytes of tensors autograd keeps for backward in one training step, and the step's seconds."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    if video.is_cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    index = torch.full((video.shape[0],), 1, dtype=torch.long, device=video.device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits, targets = model(video, index)
        nats, dims = slice_cross_entropy(logits, targets, index, model.subscale, 1)
    (nats / dims).backward()
    return total, time.perf_counter() - start


def bench_memory(device: torch.device) -> dict:
    torch.manual_seed(0)
    latent = small_transformer((16, 16, 16), 4, 512, (1, 16, 16), device)
    pixel = small_transformer((16, 64, 64), 3, 256, (1, 16, 16), device)
    results = {}
    for name, model, shape, vocab in (
        ("latent", latent, (1, 16, 16, 16, 4), 512),
        ("pixel", pixel, (1, 16, 64, 64, 3), 256),
    ):
        video = torch.randint(0, vocab, shape, device=device)
        saved, seconds = saved_activation_bytes(model, video)
        results[name] = {
            "input": list(shape[1:]),
            "saved_for_backward_mib": saved / 2**20,
            "step_seconds": seconds,
            "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        }
    results["pixel_over_latent_memory"] = (
        results["pixel"]["saved_for_backward_mib"] / results["latent"]["saved_for_backward_mib"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="outputs/lvt/bench")
    parser.add_argument("--frames", type=int, default=4, help="latent frames in the sampling benchmark")
    parser.add_argument("--size", type=int, default=16, help="latent frame size in the sampling benchmark")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sampling = bench_sampling(device, args.frames, args.size)
    memory = bench_memory(device)
    rows = [
        ("sampling, naive (s / frame)", f"{sampling['naive_seconds_per_frame']:.3f}"),
        ("sampling, cached (s / frame)", f"{sampling['cached_seconds_per_frame']:.3f}"),
        ("cached speed-up", f"{sampling['speedup']:.1f}x"),
        ("identical samples (fraction, float32)", f"{sampling['identical_fraction_float32']:.4f}"),
        ("train step, latents: saved for backward (MiB)", f"{memory['latent']['saved_for_backward_mib']:.1f}"),
        ("train step, pixels: saved for backward (MiB)", f"{memory['pixel']['saved_for_backward_mib']:.1f}"),
        ("pixel / latent memory", f"{memory['pixel_over_latent_memory']:.1f}x"),
    ]
    print(f"device: {device}")
    print(markdown_table(["benchmark", "value"], rows))
    out = Path(args.output_dir)
    save_json({"device": str(device), "sampling": sampling, "memory": memory}, out / "bench.json")
    print(f"written {out / 'bench.json'}")


if __name__ == "__main__":
    main()
