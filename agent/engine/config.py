"""The engine's playing settings: a frozen dataclass, validated at construction (units in names)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.chunking import HOP_RANGE_S
from agent.errors import require


@dataclass(frozen=True)
class EngineConfig:
    """How the agent plays. ``temperature`` 0 = always the most likely label (greedy)."""

    crossfade_ms: float = 20.0
    gain_db: float = 0.0
    temperature: float = 0.7
    top_p: float = 0.9
    taboo_grains: int = 4
    output_lead_ms: float = 80.0  # live: how far ahead of the play head a decision must land
    muted: bool = False
    seed: int = 0
    hop_s: float = 0.0  # decision rate; 0 = the model's own hop (other hops: uniform chunking only)

    def __post_init__(self) -> None:
        checks = [
            (5.0 <= self.crossfade_ms <= 100.0, f"crossfade_ms must be between 5 and 100, got {self.crossfade_ms}"),
            (-60.0 <= self.gain_db <= 12.0, f"gain_db must be between -60 and 12, got {self.gain_db}"),
            (0.0 <= self.temperature <= 5.0, f"temperature must be between 0 and 5, got {self.temperature}"),
            (0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}"),
            (0 <= self.taboo_grains <= 1000, f"taboo_grains must be between 0 and 1000, got {self.taboo_grains}"),
            (0.0 <= self.output_lead_ms <= 2000.0, f"output_lead_ms must be between 0 and 2000, got {self.output_lead_ms}"),
            (self.hop_s == 0.0 or HOP_RANGE_S[0] <= self.hop_s <= HOP_RANGE_S[1],
             f"hop_s must be 0 (the model's own) or between {HOP_RANGE_S[0]} and {HOP_RANGE_S[1]}, got {self.hop_s}"),
        ]
        require(checks)

    @property
    def gain(self) -> float:
        return 10.0 ** (self.gain_db / 20.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
