"""The loop diffusion model (issue 16): a 1-D UNet denoiser D(x_a, a, tempo phase) over the loop
autoencoder's latents, and the tempo condition it hears.

The tempo is given as a phase signal per latent frame, as in Pichard et al.: the beat's sawtooth
(0 on each beat rising to 1 before the next), with sin and cos of the beat's and of the bar's
phase, and a presence flag. Classifier-free guidance drops the condition: the whole signal, flag
included, is zeroed where ``keep`` is False, so the null condition is distinct from any phase.
The condition is added to the features at every level of the UNet (pooled to its frame rate), and
the IADB alpha, as a sinusoidal embedding, scales and shifts every residual block.

A model trained on loops whose sidecars name their part (``kind``: drums, bass, chords...) also
hears the kind: ``config.kind_count`` one-hot channels after the tempo's, constant over the frames,
which enter every level like the phase and also shift the alpha embedding. They are dropped with
the rest of the condition, so the null condition knows neither tempo nor kind; a loop of no known
kind has all of them zero.

The latents are standardised per channel by the training set's mean and spread, held as buffers
beside the weights (``latent_mean``, ``latent_std``): the model works on standardised latents,
``to_latents`` maps its samples back for the decoder.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agent.loops.diffusion_config import LoopDiffusionConfig
from agent.loops.loop_request import BEATS_PER_BAR

CONDITION_CHANNELS = 6  # beat sawtooth, sin/cos of the beat, sin/cos of the bar, presence flag


def tempo_condition(frames: int, hop_samples: int, rate_hz: int, bpm: float, first_sample: float) -> np.ndarray:
    """[CONDITION_CHANNELS, frames] float32: the phase of each latent frame's middle, frame 0 starting
    at sample ``first_sample`` of a timeline whose sample 0 is a downbeat (negative: a pre-roll)."""
    centres = first_sample + (np.arange(frames) + 0.5) * hop_samples
    beats = centres / rate_hz * bpm / 60.0
    beat_phase = 2 * np.pi * beats
    bar_phase = 2 * np.pi * beats / BEATS_PER_BAR
    return np.stack([np.mod(beats, 1.0), np.sin(beat_phase), np.cos(beat_phase),
                     np.sin(bar_phase), np.cos(bar_phase), np.ones(frames)]).astype(np.float32)


def kind_channels(kind_index: int | None, kind_count: int, frames: int) -> np.ndarray:
    """[kind_count, frames] float32: one-hot of ``kind_index`` (None: no known kind, all zero)."""
    out = np.zeros((kind_count, frames), dtype=np.float32)
    if kind_index is not None:
        if not 0 <= kind_index < kind_count:
            raise ValueError(f"kind index {kind_index} outside 0..{kind_count - 1}")
        out[kind_index] = 1.0
    return out


def loop_condition(frames: int, hop_samples: int, rate_hz: int, bpm: float, first_sample: float,
                   kind_index: int | None = None, kind_count: int = 0) -> np.ndarray:
    """[CONDITION_CHANNELS + kind_count, frames] float32: the tempo phase (``tempo_condition``), then
    the kind's one-hot when the model hears ``kind_count`` kinds (``kind_channels``)."""
    tempo = tempo_condition(frames, hop_samples, rate_hz, bpm, first_sample)
    return np.concatenate([tempo, kind_channels(kind_index, kind_count, frames)]) if kind_count else tempo


def alpha_embedding(alpha: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of alpha in [0, 1] (scaled by 1000, as diffusion time usually is)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=alpha.device) / half)
    angles = 1000.0 * alpha.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class _Block(nn.Module):
    """GroupNorm, SiLU, conv; the alpha embedding's scale and shift; again; a residual path."""

    def __init__(self, c_in: int, c_out: int, embed: int, dilation: int = 1) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation)
        self.film = nn.Linear(embed, 2 * c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=dilation, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class LoopUNet(nn.Module):
    def __init__(self, config: LoopDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        widths = [min(config.width * 2 ** i, config.max_width) for i in range(config.levels + 1)]
        embed = 4 * config.width
        self.embed = nn.Sequential(nn.Linear(config.width, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))
        self.stem = nn.Conv1d(config.latent_channels, widths[0], 3, padding=1)
        self.condition_channels = CONDITION_CHANNELS + config.kind_count
        self.cond = nn.ModuleList(nn.Conv1d(self.condition_channels, w, 1) for w in widths)
        self.kind_embed = nn.Linear(config.kind_count, embed, bias=False) if config.kind_count else None
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        for i in range(config.levels):
            self.down.append(nn.ModuleList(_Block(widths[i], widths[i], embed) for _ in range(config.blocks)))
            self.pool.append(nn.Conv1d(widths[i], widths[i + 1], 4, stride=2, padding=1))
        self.middle = nn.ModuleList(_Block(widths[-1], widths[-1], embed, dilation=d) for d in (1, 2, 4, 8))
        self.unpool = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in reversed(range(config.levels)):
            self.unpool.append(nn.ConvTranspose1d(widths[i + 1], widths[i], 4, stride=2, padding=1))
            self.up.append(nn.ModuleList(_Block(2 * widths[i] if b == 0 else widths[i], widths[i], embed) for b in range(config.blocks)))
        self.head = nn.Sequential(nn.GroupNorm(8, widths[0]), nn.SiLU(), nn.Conv1d(widths[0], config.latent_channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, condition: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """D(x_a, a, c): the predicted x1 - x0 ([B, latent_channels, frames], frames a multiple of
        ``config.frame_multiple``); ``condition`` [B, CONDITION_CHANNELS + kind_count, frames] (tempo
        phase, then the kind's one-hot), zeroed where ``keep`` is False."""
        if x.shape[-1] % self.config.frame_multiple:
            raise ValueError(f"frames ({x.shape[-1]}) must be a multiple of {self.config.frame_multiple}")
        if condition.shape[1] != self.condition_channels:
            raise ValueError(f"condition has {condition.shape[1]} channels, this model hears {self.condition_channels} "
                             f"({CONDITION_CHANNELS} of tempo, {self.config.kind_count} of kind)")
        c = condition * keep.to(condition.dtype)[:, None, None]
        emb = self.embed(alpha_embedding(alpha, self.config.width))
        if self.kind_embed is not None:
            emb = emb + self.kind_embed(c[:, CONDITION_CHANNELS:, 0])
        h = self.stem(x) + self.cond[0](c)
        skips = []
        for level, (blocks, pool) in enumerate(zip(self.down, self.pool)):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            h = pool(h)
            c = F.avg_pool1d(c, 2)
            h = h + self.cond[level + 1](c)
        for block in self.middle:
            h = block(h, emb)
        for unpool, blocks in zip(self.unpool, self.up):
            h = torch.cat([unpool(h), skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
        return self.head(h)

    def standardise(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.latent_mean[:, None]) / self.latent_std[:, None]

    def to_latents(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.latent_std[:, None] + self.latent_mean[:, None]
