"""How the small Wav2Vec2 is pretrained (``agent/perception/pretrain.py`` runs it); no torch here,
so the command line takes its defaults from it without loading the training stack."""

from __future__ import annotations

import math
from dataclasses import dataclass

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.errors import AntiphonError


@dataclass(frozen=True)
class PretrainConfig:
    """How the small Wav2Vec2 is pretrained (saved beside it as ``pretrain_config.json``)."""

    steps: int = 4000
    batch_size: int = 8
    crop_s: float = 2.0
    learning_rate: float = 1e-3
    warmup_steps: int = 400
    weight_decay: float = 0.01
    max_grad_norm: float = 5.0
    gumbel_start: float = 2.0  # quantizer temperature, decayed exponentially to gumbel_end at 70 % of the steps
    gumbel_end: float = 0.5
    min_crop_rms: float = 0.005  # crops quieter than this are drawn again (rests, the tail of a piece)
    validation_crops: int = 32
    eval_every_steps: int = 100
    checkpoint_every_steps: int = 100
    threads: int = 2
    seed: int = 0
    augment_prob: float = 0.0  # share of crops heard through a random room/EQ/noise (agent/audio_augment.py); the targets stay clean

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "validation_crops", "eval_every_steps", "checkpoint_every_steps", "threads"):
            if getattr(self, name) < 1:
                raise AntiphonError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.5 <= self.crop_s <= 30.0:
            raise AntiphonError(f"crop_s must be between 0.5 and 30 s, got {self.crop_s}")
        if not 0.0 < self.learning_rate < 1.0:
            raise AntiphonError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0 <= self.warmup_steps < self.steps:
            raise AntiphonError(f"warmup_steps must be in [0, steps), got {self.warmup_steps}")
        if not 0.0 <= self.augment_prob <= 1.0:
            raise AntiphonError(f"augment_prob must be between 0 and 1, got {self.augment_prob}")
        if not 0.0 < self.gumbel_end <= self.gumbel_start:
            raise AntiphonError(f"need 0 < gumbel_end <= gumbel_start, got {self.gumbel_end} and {self.gumbel_start}")

    @property
    def crop_samples(self) -> int:
        return int(round(self.crop_s * PERCEPTION_RATE_HZ))

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to a tenth."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1)
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    def gumbel_at(self, step: int) -> float:
        decay_steps = max(int(0.7 * self.steps), 1)
        ratio = min(step / decay_steps, 1.0)
        return self.gumbel_start * (self.gumbel_end / self.gumbel_start) ** ratio
