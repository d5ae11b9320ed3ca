"""What a loop request may ask (tempo, bars, count, guidance, steps, seed, kind), checked in one line
before any model is loaded (``generate-loops`` and OSC ``/antiphon/loops/generate`` alike), and
the stretch of audio the sampler makes for it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agent.errors import require

BEATS_PER_BAR = 4
MAX_BARS = 8
MAX_COUNT = 64
BPM_LIMITS = (40.0, 240.0)
KIND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # a loop's part, as sidecars and requests name it


@dataclass(frozen=True)
class LoopRequest:
    bpm: float
    bars: int = 2
    count: int = 8
    guidance: float = 3.0
    steps: int = 32
    seed: int = 0
    crossfade_ms: float = 20.0
    kind: str | None = None  # the part (a kind the model knows); None: drawn per loop by the training shares

    def __post_init__(self) -> None:
        require([
            (isinstance(self.bpm, (int, float)) and math.isfinite(self.bpm) and BPM_LIMITS[0] <= self.bpm <= BPM_LIMITS[1],
             f"bpm must be {BPM_LIMITS[0]:g}..{BPM_LIMITS[1]:g}, got {self.bpm}"),
            (isinstance(self.bars, int) and 1 <= self.bars <= MAX_BARS, f"bars must be 1..{MAX_BARS}, got {self.bars}"),
            (isinstance(self.count, int) and 1 <= self.count <= MAX_COUNT, f"count must be 1..{MAX_COUNT}, got {self.count}"),
            (math.isfinite(self.guidance) and 0.0 <= self.guidance <= 20.0, f"guidance must be 0..20, got {self.guidance}"),
            (isinstance(self.steps, int) and 1 <= self.steps <= 1000, f"steps must be 1..1000, got {self.steps}"),
            (isinstance(self.seed, int) and 0 <= self.seed < 2 ** 31, f"seed must be 0..2**31-1, got {self.seed}"),
            (0.0 <= self.crossfade_ms <= 200.0, f"crossfade_ms must be 0..200, got {self.crossfade_ms}"),
            (self.kind is None or (isinstance(self.kind, str) and KIND_NAME.fullmatch(self.kind) is not None),
             f"kind must be a short lower-case name (drums, bass...), got {self.kind!r}"),
        ], "loop request: ")

    def loop_samples(self, rate_hz: int) -> int:
        return int(round(self.bars * BEATS_PER_BAR * 60.0 / self.bpm * rate_hz))


def loop_plan(request: LoopRequest, rate_hz: int, hop: int, frame_multiple: int) -> tuple[int, int, int]:
    """(pre-roll samples, loop samples, latent frames): a beat before, the loop, a beat after, rounded up."""
    beat = int(round(60.0 / request.bpm * rate_hz))
    n = request.loop_samples(rate_hz)
    frames = math.ceil((beat + n + beat) / hop)
    frames = math.ceil(frames / frame_multiple) * frame_multiple
    return beat, n, frames
