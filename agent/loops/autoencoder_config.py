"""The loop autoencoder's shape and training (saved beside its weights; agent/loops/autoencoder.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import require


@dataclass(frozen=True)
class LoopAutoencoderConfig:
    """A convolutional waveform autoencoder: ``levels`` stages that each divide the rate by
    ``stride`` (hop = stride ** levels samples per latent frame) and double the channels from
    ``base_channels`` (at most ``max_channels``), then ``latent_channels`` per frame."""

    sample_rate_hz: int = 16_000
    levels: int = 4
    stride: int = 4
    base_channels: int = 16
    max_channels: int = 128
    latent_channels: int = 32

    def __post_init__(self) -> None:
        require([
            (8000 <= self.sample_rate_hz <= 48_000, f"sample_rate_hz must be 8000..48000, got {self.sample_rate_hz}"),
            (1 <= self.levels <= 6, f"levels must be 1..6, got {self.levels}"),
            (self.stride in (2, 4, 8), f"stride must be 2, 4 or 8, got {self.stride}"),
            (4 <= self.base_channels <= self.max_channels <= 1024, f"base_channels..max_channels must lie in 4..1024, got {self.base_channels}..{self.max_channels}"),
            (1 <= self.latent_channels <= 256, f"latent_channels must be 1..256, got {self.latent_channels}"),
        ], "loop autoencoder: ")

    @property
    def hop_samples(self) -> int:
        return self.stride ** self.levels

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_samples

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AutoencoderTrainConfig:
    """Steps of ``batch_size`` random windows of ``window_s`` from the training loops (heard as they
    wrap); loss: multi-resolution STFT distance plus the mean absolute waveform error; the latents
    are kept small (``latent_penalty`` x their mean square) and the decoder learns to bear a little
    noise on them (``latent_noise``), so that a diffusion model's near-misses still decode."""

    steps: int = 8000
    batch_size: int = 8
    window_s: float = 1.024
    learning_rate: float = 3e-4
    warmup_steps: int = 200
    eval_every: int = 250
    latent_noise: float = 0.05
    latent_penalty: float = 1e-3
    validation_loops: int = 24
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        require([
            (1 <= self.steps <= 10_000_000, f"steps must be 1..10000000, got {self.steps}"),
            (1 <= self.batch_size <= 1024, f"batch_size must be 1..1024, got {self.batch_size}"),
            (0.1 <= self.window_s <= 30.0, f"window_s must be 0.1..30, got {self.window_s}"),
            (0 < self.learning_rate <= 1, f"learning_rate must be in (0, 1], got {self.learning_rate}"),
            (0 <= self.warmup_steps <= self.steps, f"warmup_steps must be 0..steps, got {self.warmup_steps}"),
            (1 <= self.eval_every, f"eval_every must be at least 1, got {self.eval_every}"),
            (0 <= self.latent_noise <= 1, f"latent_noise must be 0..1, got {self.latent_noise}"),
            (0 <= self.latent_penalty <= 1, f"latent_penalty must be 0..1, got {self.latent_penalty}"),
            (1 <= self.validation_loops <= 10_000, f"validation_loops must be 1..10000, got {self.validation_loops}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
            (1 <= self.threads <= 64, f"threads must be 1..64, got {self.threads}"),
        ], "loop autoencoder training: ")
