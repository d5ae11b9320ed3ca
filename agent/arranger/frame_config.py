"""The arranger's frame models (chords, beats): what they hear, their shape and training (saved beside their weights)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.arranger.songs import NUM_CHORDS
from agent.errors import require

FRAME_MODEL_FORMAT = "antiphon-frame-model"
FRAME_MODEL_FORMAT_VERSION = 1
TASK_CLASSES = {"chords": NUM_CHORDS, "beats": 3}  # chords: N + 12 major + 12 minor; beats: none, beat, downbeat
HEARS = ("mix", "melody")  # song mode: the whole mix; performer mode: the melody alone (harmonisation)


@dataclass(frozen=True)
class SpectrumConfig:
    """What a frame model hears: the constant-Q spectrum of the input, causal per frame: log magnitude relative to the frame's
    loudest bin (key and timbre are learned, loudness is not), plus the frame's loudness."""

    sample_rate_hz: int = 22_050
    hop_samples: int = 2048
    fmin_midi: int = 36  # C2
    bins: int = 72  # 6 octaves, a bin per semitone
    floor_db: float = -60.0  # bins further below the frame's loudest are clipped here

    def __post_init__(self) -> None:
        require([
            (8000 <= self.sample_rate_hz <= 96_000, f"sample_rate_hz must be 8000..96000, got {self.sample_rate_hz}"),
            (64 <= self.hop_samples <= 16_384 and self.hop_samples % 64 == 0, f"hop_samples must be a multiple of 64 in 64..16384, got {self.hop_samples}"),
            (12 <= self.fmin_midi <= 72, f"fmin_midi must be 12..72, got {self.fmin_midi}"),
            (12 <= self.bins <= 96 and self.bins % 12 == 0, f"bins must be whole octaves, 12..96, got {self.bins}"),
            (-120.0 <= self.floor_db <= -10.0, f"floor_db must be -120..-10, got {self.floor_db}"),
        ], "spectrum: ")

    @property
    def frame_s(self) -> float:
        return self.hop_samples / self.sample_rate_hz

    @property
    def dim(self) -> int:
        return self.bins + 1


@dataclass(frozen=True)
class FrameModelConfig:
    """A causal frame classifier: dilated causal convolutions, then a GRU, then per frame the 25
    majmin chord classes (``task`` "chords") or none / beat / downbeat ("beats").
    ``delay_frames``: frame t - delay is classified after hearing frame t (0: at once)."""

    task: str = "chords"
    hears: str = "mix"
    width: int = 128
    conv_layers: int = 3
    dropout: float = 0.1
    delay_frames: int = 0

    def __post_init__(self) -> None:
        require([
            (self.task in TASK_CLASSES, f"task must be one of {', '.join(TASK_CLASSES)}, got {self.task!r}"),
            (self.hears in HEARS, f"hears must be one of {', '.join(HEARS)}, got {self.hears!r}"),
            (8 <= self.width <= 1024, f"width must be 8..1024, got {self.width}"),
            (0 <= self.conv_layers <= 8, f"conv_layers must be 0..8, got {self.conv_layers}"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            (0 <= self.delay_frames <= 64, f"delay_frames must be 0..64, got {self.delay_frames}"),
        ], "frame model: ")

    @property
    def num_classes(self) -> int:
        return TASK_CLASSES[self.task]


@dataclass(frozen=True)
class FrameTrainConfig:
    """How a frame model is trained (seeded; validation drawn by song)."""

    max_epochs: int = 30
    patience_epochs: int = 4
    batch_size: int = 16
    crop_frames: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    transpose_semitones: int = 6  # each crop is moved by a random -(n-1)..n semitones (spectrum and labels)
    validation_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        require([
            (self.max_epochs >= 1, "max_epochs must be at least 1"),
            (self.patience_epochs >= 1, "patience_epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.crop_frames >= 8, "crop_frames must be at least 8"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.weight_decay >= 0, "weight_decay must be 0 or positive"),
            (0 <= self.transpose_semitones <= 6, "transpose_semitones must be 0..6"),
            (0 < self.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
            (self.seed >= 0, "seed must be 0 or positive"),
        ], "frame-model training: ")
