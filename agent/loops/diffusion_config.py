"""The loop diffusion model's shape and training (saved beside its weights; agent/loops/unet.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import require


@dataclass(frozen=True)
class LoopDiffusionConfig:
    """A 1-D UNet over the autoencoder's latents: ``levels`` halvings of the frame rate, ``width``
    channels at the top (doubled per level, at most ``max_width``), ``blocks`` residual blocks per
    level, dilated blocks in the middle; the alpha of IADB and the tempo phase condition enter every
    block, and so does the loop's kind when ``kind_count`` > 0 (their names: config.json, "kinds")."""

    latent_channels: int = 32
    width: int = 32
    max_width: int = 128
    levels: int = 3
    blocks: int = 2
    kind_count: int = 0

    def __post_init__(self) -> None:
        require([
            (1 <= self.latent_channels <= 256, f"latent_channels must be 1..256, got {self.latent_channels}"),
            (8 <= self.width <= self.max_width <= 1024 and self.width % 8 == 0 and self.max_width % 8 == 0,
             f"width..max_width must lie in 8..1024, multiples of 8, got {self.width}..{self.max_width}"),
            (1 <= self.levels <= 5, f"levels must be 1..5, got {self.levels}"),
            (1 <= self.blocks <= 4, f"blocks must be 1..4, got {self.blocks}"),
            (0 <= self.kind_count <= 64, f"kind_count must be 0..64, got {self.kind_count}"),
        ], "loop diffusion model: ")

    @property
    def frame_multiple(self) -> int:
        """The number of latent frames must be a multiple of this."""
        return 2 ** self.levels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DiffusionTrainConfig:
    """IADB training on ``crop_frames``-frame windows of the training loops' latents (heard as they
    wrap), the condition dropped for a ``drop_prob`` share of each batch (classifier-free guidance)."""

    steps: int = 24000
    batch_size: int = 16
    crop_frames: int = 320
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    eval_every: int = 250
    drop_prob: float = 0.15
    validation_loops: int = 24
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        require([
            (1 <= self.steps <= 10_000_000, f"steps must be 1..10000000, got {self.steps}"),
            (1 <= self.batch_size <= 1024, f"batch_size must be 1..1024, got {self.batch_size}"),
            (16 <= self.crop_frames <= 4096, f"crop_frames must be 16..4096, got {self.crop_frames}"),
            (0 < self.learning_rate <= 1, f"learning_rate must be in (0, 1], got {self.learning_rate}"),
            (0 <= self.warmup_steps <= self.steps, f"warmup_steps must be 0..steps, got {self.warmup_steps}"),
            (1 <= self.eval_every, f"eval_every must be at least 1, got {self.eval_every}"),
            (0 <= self.drop_prob < 1, f"drop_prob must be in [0, 1), got {self.drop_prob}"),
            (1 <= self.validation_loops <= 10_000, f"validation_loops must be 1..10000, got {self.validation_loops}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
            (1 <= self.threads <= 64, f"threads must be 1..64, got {self.threads}"),
        ], "loop diffusion training: ")
