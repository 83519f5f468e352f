"""Fréchet Video Distance (VideoGPT protocol): I3D logits of 16-frame clips resized to 224 and scaled to [-1, 1],
Fréchet distance of the two feature Gaussians (shared_utils.metrics). Weights only from a local file."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from shared_utils.metrics import frechet_distance
from shared_utils.weights import WeightsNotFoundError, find_weights, load_state_dict_file, load_weights_strict

from lvt.models.i3d import InceptionI3d

I3D_ENV_VAR = "LVT_I3D_WEIGHTS"
FVD_FRAMES = 16


def load_i3d(explicit: str | None = None) -> InceptionI3d:
    """The I3D network with weights from ``explicit``, ``$LVT_I3D_WEIGHTS`` or the torch cache (else raises)."""
    path = find_weights(InceptionI3d.WEIGHTS_FILE, explicit=explicit, env_var=I3D_ENV_VAR)
    model = InceptionI3d()
    state = load_state_dict_file(path)
    # files saved by old PyTorch versions lack the BatchNorm step counters, which inference never reads
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, value)
    load_weights_strict(model, state)
    return model.eval()


def fvd_unavailable_reason(num_frames: int, explicit: str | None = None) -> str | None:
    """Why FVD cannot be computed (missing I3D weights, clips shorter than 16 frames), or None."""
    reasons = []
    try:
        find_weights(InceptionI3d.WEIGHTS_FILE, explicit=explicit, env_var=I3D_ENV_VAR)
    except WeightsNotFoundError:
        # no searched path in the message: metrics.json must not depend on the machine it was written on
        reasons.append(f"no I3D weights file {InceptionI3d.WEIGHTS_FILE} (set eval.i3d_weights or ${I3D_ENV_VAR}, "
                       "or put it in the torch hub cache)")
    if num_frames < FVD_FRAMES:
        reasons.append(f"FVD is defined on {FVD_FRAMES}-frame clips and these videos have {num_frames} frames")
    return "; ".join(reasons) or None


@torch.no_grad()
def i3d_features(model: InceptionI3d, videos: torch.Tensor, batch_size: int = 8) -> np.ndarray:
    """uint8 videos (N, T, H, W, 3) -> (N, 400) features of their first 16 frames."""
    device = next(model.parameters()).device
    features = []
    for start in range(0, len(videos), batch_size):
        clip = videos[start : start + batch_size, :FVD_FRAMES].to(device)
        frames = clip.flatten(0, 1).permute(0, 3, 1, 2).float()
        frames = F.interpolate(frames, size=(224, 224), mode="bilinear", align_corners=False)
        frames = frames / 127.5 - 1.0
        frames = frames.reshape(clip.shape[0], clip.shape[1], 3, 224, 224).transpose(1, 2)
        features.append(model(frames).cpu().double().numpy())
    return np.concatenate(features)


def fvd(model: InceptionI3d, real: torch.Tensor, generated: torch.Tensor, batch_size: int = 8) -> float:
    return float(frechet_distance(i3d_features(model, real, batch_size), i3d_features(model, generated, batch_size)))
