"""The note harmoniser's shape and training (saved beside its weights; agent/arranger/note_harmoniser.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import require


@dataclass(frozen=True)
class NoteHarmoniserConfig:
    """One chord per ``segment_steps`` 16th steps, from a GRU of ``width`` units."""

    segment_steps: int = 8
    width: int = 64

    def __post_init__(self) -> None:
        require([
            (self.segment_steps in (4, 8, 16), f"segment_steps must be 4, 8 or 16 (a beat, half a bar, a bar), got {self.segment_steps}"),
            (4 <= self.width <= 512, f"width must be 4..512, got {self.width}"),
        ], "note harmoniser: ")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



@dataclass(frozen=True)
class NoteHarmoniserTrainConfig:
    epochs: int = 10
    learning_rate: float = 3e-3
    batch_songs: int = 16
    validation_share: float = 0.05
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        require([
            (1 <= self.epochs <= 1000, f"epochs must be 1..1000, got {self.epochs}"),
            (0 < self.learning_rate <= 1, f"learning_rate must be in (0, 1], got {self.learning_rate}"),
            (1 <= self.batch_songs <= 1024, f"batch_songs must be 1..1024, got {self.batch_songs}"),
            (0 < self.validation_share < 0.5, f"validation_share must be in (0, 0.5), got {self.validation_share}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
            (1 <= self.threads <= 64, f"threads must be 1..64, got {self.threads}"),
        ], "note harmoniser training: ")
