"""VQ-VAE frame autoencoder (eq. 1): conv encoder, n_c-part EMA quantiser, conv decoder; frames in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lvt.models.quantizer import EMAVectorQuantizer


class ResidualBlock(nn.Module):
    """ReLU - conv3x3 (C -> R) - ReLU - conv1x1 (R -> C), added to the input."""

    def __init__(self, channels: int, res_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, res_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(res_channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _downsampling_channels(num_downsamples: int, hidden: int, channels: int) -> list[int]:
    """Output channels of the stride-2 convs: hidden for all but the last, which gives ``channels``."""
    return [hidden] * (num_downsamples - 1) + [channels]


class FrameEncoder(nn.Module):
    def __init__(self, hidden: int, channels: int, res_channels: int, num_res_blocks: int, num_downsamples: int):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for out_channels in _downsampling_channels(num_downsamples, hidden, channels):
            layers += [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1), nn.ReLU()]
            in_channels = out_channels
        layers.append(nn.Conv2d(channels, channels, 3, padding=1))
        layers += [ResidualBlock(channels, res_channels) for _ in range(num_res_blocks)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FrameDecoder(nn.Module):
    def __init__(self, hidden: int, channels: int, res_channels: int, num_res_blocks: int, num_downsamples: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, padding=1)]
        layers += [ResidualBlock(channels, res_channels) for _ in range(num_res_blocks)]
        layers.append(nn.ReLU())
        in_channels = channels
        for index in range(num_downsamples):
            last = index == num_downsamples - 1
            out_channels = 3 if last else hidden
            layers.append(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1))
            layers.append(nn.Tanh() if last else nn.ReLU())
            in_channels = out_channels
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass
class VQVAEOutput:
    reconstruction: torch.Tensor
    codes: torch.Tensor
    reconstruction_loss: torch.Tensor
    commitment_loss: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor


class VQVAE(nn.Module):
    """L = ||x - dec(z_q(x))||^2 + beta ||z_e(x) - sg[e]||^2 (eq. 1, both terms as means over elements)."""

    def __init__(
        self,
        *,
        hidden_channels: int = 128,
        channels: int = 256,
        res_channels: int = 128,
        num_res_blocks: int = 2,
        num_downsamples: int = 2,
        num_parts: int = 4,
        codebook_size: int = 512,
        shared_codebook: bool = False,
        ema_decay: float = 0.99,
        ema_epsilon: float = 1e-5,
        commitment_weight: float = 1.0,
        dead_code_threshold: float = 0.0,
    ):
        super().__init__()
        self.num_downsamples = num_downsamples
        self.commitment_weight = commitment_weight
        arch = (hidden_channels, channels, res_channels, num_res_blocks, num_downsamples)
        self.encoder = FrameEncoder(*arch)
        self.decoder = FrameDecoder(*arch)
        self.quantizer = EMAVectorQuantizer(
            num_parts,
            codebook_size,
            channels,
            shared_codebook=shared_codebook,
            decay=ema_decay,
            epsilon=ema_epsilon,
            dead_code_threshold=dead_code_threshold,
        )

    @property
    def num_parts(self) -> int:
        return self.quantizer.num_parts

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def forward(self, frames: torch.Tensor) -> VQVAEOutput:
        """frames (B, 3, H, W) in [-1, 1]."""
        quantized = self.quantizer(self.encoder(frames))
        reconstruction = self.decoder(quantized.quantized)
        reconstruction_loss = F.mse_loss(reconstruction, frames)
        return VQVAEOutput(
            reconstruction=reconstruction,
            codes=quantized.codes,
            reconstruction_loss=reconstruction_loss,
            commitment_loss=quantized.commitment_loss,
            loss=reconstruction_loss + self.commitment_weight * quantized.commitment_loss,
            perplexity=quantized.perplexity,
            usage=quantized.usage,
        )

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, H, W) in [-1, 1] -> integer codes (B, n_c, h, w)."""
        latent = self.encoder(frames)
        batch, _, h, w = latent.shape
        codes = self.quantizer.nearest_codes(self.quantizer.split_parts(latent))
        return codes.reshape(self.num_parts, batch, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, n_c, h, w) -> frames (B, 3, H, W) in [-1, 1]."""
        return self.decoder(self.quantizer.lookup(codes))
