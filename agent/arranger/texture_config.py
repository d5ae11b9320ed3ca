"""The texture model's settings: frozen dataclasses, validated at construction, saved beside the
weights in ``config.json`` ("model", "sampling", "training") and checked again on load.

Pitches inside the model are *relative*: to the bar's reference pitch class (the root of its first
chord) and to the chord sounding at the note's onset, so one token means "the third, an octave and
a fifth above the reference" in every key (see texture_model.py). The ranges below are in
semitones above that reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import require
from agent.files import typed_config

MAX_PARAMETERS = 5_000_000  # a hostile config.json cannot make the loader allocate much


@dataclass(frozen=True)
class TextureModelConfig:
    """Shape of the texture Transformer and of its vocabularies."""

    width: int = 96
    num_layers: int = 3
    num_heads: int = 4
    ffn_width: int = 256
    head_width: int = 96  # hidden width of the pitch and duration heads (small MLPs)
    dropout: float = 0.1
    max_notes_per_bar: int = 40  # events generated per bar at most (POP909: 99.9 % of bars hold 41 or fewer)
    relative_pitch_min_semitones: int = 12  # lowest pitch token, in semitones above reference + chord root
    relative_pitch_count: int = 96  # pitch tokens (12 .. 107 semitones above)
    velocity_bin_width: int = 8  # MIDI velocity per bin (128 // width bins)

    def __post_init__(self) -> None:
        require([
            (8 <= self.width <= 1024 and self.width % max(self.num_heads, 1) == 0,
             f"width must be 8..1024 and a multiple of num_heads ({self.num_heads}), got {self.width}"),
            (1 <= self.num_layers <= 12, f"num_layers must be 1..12, got {self.num_layers}"),
            (1 <= self.num_heads <= 16, f"num_heads must be 1..16, got {self.num_heads}"),
            (1 <= self.ffn_width <= 4096, f"ffn_width must be 1..4096, got {self.ffn_width}"),
            (1 <= self.head_width <= 4096, f"head_width must be 1..4096, got {self.head_width}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (1 <= self.max_notes_per_bar <= 256, f"max_notes_per_bar must be 1..256, got {self.max_notes_per_bar}"),
            (0 <= self.relative_pitch_min_semitones <= 60, f"relative_pitch_min_semitones must be 0..60, got {self.relative_pitch_min_semitones}"),
            (12 <= self.relative_pitch_count <= 128, f"relative_pitch_count must be 12..128, got {self.relative_pitch_count}"),
            (self.velocity_bin_width in (1, 2, 4, 8, 16, 32), f"velocity_bin_width must be 1, 2, 4, 8, 16 or 32, got {self.velocity_bin_width}"),
            (self.approx_parameters <= MAX_PARAMETERS, f"about {self.approx_parameters:,} weights; at most {MAX_PARAMETERS:,} are loaded"),
        ], "texture model config: ")

    @property
    def velocity_bins(self) -> int:
        return 128 // self.velocity_bin_width

    @property
    def approx_parameters(self) -> int:
        w = self.width
        return self.num_layers * (4 * w * w + 2 * w * self.ffn_width) + 3 * w * (self.relative_pitch_count + self.head_width)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.json") -> "TextureModelConfig":
        return typed_config(cls, data, where, "model")


@dataclass(frozen=True)
class SamplingConfig:
    """How a bar is drawn from the model. ``temperature`` and ``top_p`` (nucleus: the smallest set of
    choices holding that much probability) shape each note's pitch, duration and velocity;
    temperature 0 is greedy. The onset choice, which also ends the bar and so sets the density, has
    its own ``onset_temperature`` and no nucleus: below 1 it makes bars denser (the end of the bar
    is seldom the likeliest next event), so it stays near 1 and is set apart. ``end_logit_bias``
    is added to the end-of-bar logit before that choice: > 0 plays sparser bars, < 0 busier ones (a
    density knob; training sets it on validation songs so that bars played free-running, each after
    the model's own previous bar, are as dense as the true parts')."""

    temperature: float = 1.0
    top_p: float = 0.95
    onset_temperature: float = 1.0
    end_logit_bias: float = 0.0

    def __post_init__(self) -> None:
        require([
            (0.0 <= self.temperature <= 5.0, f"temperature must be in [0, 5], got {self.temperature}"),
            (0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}"),
            (0.0 <= self.onset_temperature <= 5.0, f"onset_temperature must be in [0, 5], got {self.onset_temperature}"),
            (-10.0 <= self.end_logit_bias <= 10.0, f"end_logit_bias must be in [-10, 10], got {self.end_logit_bias}"),
        ], "sampling: ")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.json") -> "SamplingConfig":
        return typed_config(cls, data, where, "sampling")


@dataclass(frozen=True)
class TextureTrainConfig:
    """How the texture model is trained (saved in config.json under "training.config")."""

    max_epochs: int = 6
    max_steps: int = 0  # 0: no limit but max_epochs
    batch_size_bars: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    validate_every_steps: int = 300
    patience_validations: int = 5  # early stopping: validations without a better validation loss
    validation_share: float = 0.05  # of the songs that are not held out, drawn by the seed
    transpose_range_semitones: int = 6  # each training bar moved by a seeded shift in -5 .. +6
    previous_bar_dropout: float = 0.1  # share of bars trained without their previous bar (the first bar of a take)
    own_previous_start_share: float = 0.6  # at this share of the planned steps, the model plays the previous bar of some fit bars itself ...
    own_previous_bars: int = 5000  # ... of this many (drawn by the seed) ...
    own_previous_batch_share: float = 0.5  # ... and from then on this share of every batch learns the true bar after the model's own previous bar
    melody_dropout: float = 0.15  # share of bars trained with the melody marked unknown (live: next bar's melody not heard yet)
    velocity_loss_weight: float = 0.5
    songs: int = 0  # 0: every song of the folder; else the first N (quick runs)
    threads: int = 1  # torch threads (1 is fastest beside another busy process: 2 threads ran 10 times slower here)
    seed: int = 0

    def __post_init__(self) -> None:
        require([
            (1 <= self.max_epochs <= 1000, f"max_epochs must be 1..1000, got {self.max_epochs}"),
            (self.max_steps >= 0, f"max_steps must be 0 (no limit) or positive, got {self.max_steps}"),
            (1 <= self.batch_size_bars <= 4096, f"batch_size_bars must be 1..4096, got {self.batch_size_bars}"),
            (0 < self.learning_rate <= 1, f"learning_rate must be in (0, 1], got {self.learning_rate}"),
            (self.weight_decay >= 0, f"weight_decay must be 0 or positive, got {self.weight_decay}"),
            (self.warmup_steps >= 0, f"warmup_steps must be 0 or positive, got {self.warmup_steps}"),
            (self.validate_every_steps >= 1, f"validate_every_steps must be at least 1, got {self.validate_every_steps}"),
            (self.patience_validations >= 1, f"patience_validations must be at least 1, got {self.patience_validations}"),
            (0 < self.validation_share < 1, f"validation_share must be in (0, 1), got {self.validation_share}"),
            (0 <= self.transpose_range_semitones <= 6, f"transpose_range_semitones must be 0..6, got {self.transpose_range_semitones}"),
            (0 <= self.previous_bar_dropout < 1, f"previous_bar_dropout must be in [0, 1), got {self.previous_bar_dropout}"),
            (0 < self.own_previous_start_share <= 1, f"own_previous_start_share must be in (0, 1], got {self.own_previous_start_share}"),
            (self.own_previous_bars >= 0, f"own_previous_bars must be 0 (none) or positive, got {self.own_previous_bars}"),
            (0 <= self.own_previous_batch_share < 1, f"own_previous_batch_share must be in [0, 1), got {self.own_previous_batch_share}"),
            (0 <= self.melody_dropout < 1, f"melody_dropout must be in [0, 1), got {self.melody_dropout}"),
            (self.velocity_loss_weight >= 0, f"velocity_loss_weight must be 0 or positive, got {self.velocity_loss_weight}"),
            (self.songs >= 0, f"songs must be 0 (all) or positive, got {self.songs}"),
            (1 <= self.threads <= 64, f"threads must be 1..64, got {self.threads}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
        ], "texture training config: ")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
