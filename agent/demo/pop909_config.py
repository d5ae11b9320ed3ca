"""What `antiphon make-pop909-pairs` renders (a light module: the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.errors import require


@dataclass(frozen=True)
class Pop909PairsConfig:
    """Which songs, how much of each, and how they are rendered."""

    songs: int = 60
    seconds: float = 60.0
    seed: int = 0
    sample_rate_hz: int = 22_050

    def __post_init__(self) -> None:
        require(
            [
                (1 <= self.songs <= 909, f"songs must be 1..909, got {self.songs}"),
                (5.0 <= self.seconds <= 600.0, f"seconds must be 5..600, got {self.seconds}"),
                (8000 <= self.sample_rate_hz <= 96_000, f"sample_rate_hz must be 8000..96000, got {self.sample_rate_hz}"),
            ],
            "POP909 pairs: ",
        )
