"""Concatenating grains with equal-power crossfades.

Each decision slot plays one grain. A grain that continues the previous one in the corpus is
copied as is (it is the same recording going on). Otherwise the first ``crossfade`` samples of the
new grain fade in (sin) while the previous grain's natural continuation in its own recording fades
out (cos): cos² + sin² = 1 keeps the power of uncorrelated signals constant, and neither side
starts or stops abruptly, so joints add no click.
"""

from __future__ import annotations

import numpy as np


class GrainRenderer:
    """Turns a sequence of grain indices into audio at the corpus audio rate."""

    def __init__(self, audio: tuple[np.ndarray, ...], piece: np.ndarray, start: np.ndarray, end: np.ndarray, crossfade_samples: int) -> None:
        self.audio = audio
        self.piece = np.asarray(piece)
        self.start = np.asarray(start)
        self.end = np.asarray(end)
        self.slot_samples: int | None = None  # None: each grain plays its own length
        self.set_crossfade(crossfade_samples)

    def set_slot(self, samples: int | None) -> None:
        """Play every grain for ``samples`` (a decision rate other than the corpus hop), or its own length."""
        self.slot_samples = None if samples is None else int(samples)

    def hand_over(self, previous: "GrainRenderer") -> None:
        """Continue from another renderer's last grain (a model or corpus swapped live): its tail fades out."""
        n = min(len(previous._tail), self.crossfade)
        self._tail = np.zeros(self.crossfade, dtype=np.float32)
        self._tail[:n] = previous._tail[:n]

    def set_crossfade(self, samples: int) -> None:
        """New crossfade length; takes effect at the next joint (the stored tail is re-cut)."""
        self.crossfade = int(samples)
        t = (np.arange(self.crossfade) + 0.5) / max(self.crossfade, 1)
        self.fade_in = np.sin(0.5 * np.pi * t).astype(np.float32)
        self.fade_out = np.cos(0.5 * np.pi * t).astype(np.float32)
        self._tail = np.zeros(self.crossfade, dtype=np.float32)  # continuation of the last grain

    def reset(self) -> None:
        self._tail = np.zeros(self.crossfade, dtype=np.float32)

    def _excerpt(self, piece: int, begin: int, length: int) -> np.ndarray:
        src = self.audio[piece]
        out = np.zeros(length, dtype=np.float32)
        got = src[begin : begin + length]
        out[: len(got)] = got
        return out

    def _length(self, grain: int) -> int:
        return self.slot_samples if self.slot_samples is not None else int(self.end[grain]) - int(self.start[grain])

    def peek(self, grain: int) -> np.ndarray:
        """The grain's audio for one slot, as recorded (no crossfade; the renderer's state is untouched)."""
        return self._excerpt(int(self.piece[grain]), int(self.start[grain]), self._length(grain))

    def render(self, grain: int, contiguous: bool) -> np.ndarray:
        """Audio of one slot: the grain, crossfaded from the previous one unless contiguous.

        With a slot length other than the grain's own, the next grain in the corpus no longer
        continues what was played, so every joint is crossfaded.
        """
        p, e = int(self.piece[grain]), int(self.start[grain]) + self._length(grain)
        slot = self.peek(grain)
        if not contiguous or e != int(self.end[grain]):
            n = min(self.crossfade, len(slot))
            slot[:n] = slot[:n] * self.fade_in[:n] + self._tail[:n] * self.fade_out[:n]
        self._tail = self._excerpt(p, e, self.crossfade)
        return slot

    def silence(self, samples: int) -> np.ndarray:
        """A silent slot (muted or warming up); the next grain fades in from silence."""
        self._tail = np.zeros(self.crossfade, dtype=np.float32)
        return np.zeros(samples, dtype=np.float32)
