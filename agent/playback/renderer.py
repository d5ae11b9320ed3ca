"""Concatenating grains with equal-power crossfades.

Each decision slot plays one grain. A grain that continues the previous one in the corpus is
copied as is (it is the same recording going on). Otherwise the first ``crossfade`` samples of the
new grain fade in (sin) while the previous grain's natural continuation in its own recording fades
out (cos): cos² + sin² = 1 keeps the power of uncorrelated signals constant, and neither side
starts or stops abruptly, so joints add no click.
"""

from __future__ import annotations

import numpy as np

from agent.corpus.audio_store import PCM_SCALE


class GrainRenderer:
    """Turns a sequence of grain indices into audio, at the rate of ``audio`` (one array per piece:
    float, or 16-bit PCM as the playback store maps it)."""

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

    def set_tail(self, audio: np.ndarray) -> None:
        """What the next joint fades out: the continuation of whatever plays before it (the agent
        driver's continuation, possibly another renderer's after a live swap); zeros for silence."""
        self._tail = np.zeros(self.crossfade, dtype=np.float32)
        n = min(len(audio), self.crossfade)
        self._tail[:n] = audio[:n]

    def slot_end(self, grain: int) -> tuple[int, int]:
        """(piece, sample) where a slot of ``grain`` ends in its recording: its continuation starts there."""
        return int(self.piece[grain]), self._begin(grain) + self._length(grain)

    def grain_at(self, piece: int, sample: int) -> int | None:
        """The grain of ``piece`` that holds ``sample`` (grains are in piece and time order), or None past its end."""
        lo, hi = np.searchsorted(self.piece, [piece, piece + 1])
        if lo == hi:
            return None
        i = lo + int(np.searchsorted(self.start[lo:hi], sample, side="right")) - 1
        return int(i) if i >= lo and sample < int(self.end[i]) else None

    def set_crossfade(self, samples: int) -> None:
        """New crossfade length; takes effect at the next joint (the stored tail is re-cut)."""
        self.crossfade = int(samples)
        t = (np.arange(self.crossfade) + 0.5) / max(self.crossfade, 1)
        self.fade_in = np.sin(0.5 * np.pi * t).astype(np.float32)
        self.fade_out = np.cos(0.5 * np.pi * t).astype(np.float32)
        self._tail = np.zeros(self.crossfade, dtype=np.float32)  # continuation of the last grain

    def reset(self) -> None:
        self._tail = np.zeros(self.crossfade, dtype=np.float32)

    @staticmethod
    def _as_float(samples: np.ndarray) -> np.ndarray:
        """Samples of a piece as float32: 16-bit PCM (agent/corpus/audio_store.py) scaled, float as is."""
        return samples * np.float32(1.0 / PCM_SCALE) if samples.dtype == np.int16 else samples

    def _excerpt(self, piece: int, begin: int, length: int) -> np.ndarray:
        out = np.zeros(length, dtype=np.float32)
        got = self.audio[piece][max(begin, 0) : max(begin + length, 0)]
        out[: len(got)] = self._as_float(got)
        return out

    def _length(self, grain: int) -> int:
        return self.slot_samples if self.slot_samples is not None else int(self.end[grain]) - int(self.start[grain])

    def _begin(self, grain: int) -> int:
        """Where a slot of ``grain`` begins in its recording: at the grain, or earlier when a slot
        longer than the grain (another hop) would run past the end of its piece."""
        piece_end = len(self.audio[int(self.piece[grain])])
        return max(min(int(self.start[grain]), piece_end - self._length(grain)), 0)

    def peek(self, grain: int) -> np.ndarray:
        """The grain's audio for one slot, as recorded (no crossfade; the renderer's state is untouched)."""
        return self._excerpt(int(self.piece[grain]), self._begin(grain), self._length(grain))

    def continuation(self, piece: int, begin: int, length: int) -> np.ndarray:
        """The recording of ``piece`` going on from ``begin``; past the piece's end its last grain
        plays again and again, so that what follows a slot is never silence."""
        end = len(self.audio[piece])
        out = self._excerpt(piece, begin, length)
        if begin + length > end:
            rows = np.nonzero(self.piece == piece)[0]
            loop = max(int(self.end[rows[-1]]) - int(self.start[rows[-1]]), 1) if len(rows) else 1
            loop = min(loop, end)
            first = max(end - begin, 0)
            where = end - loop + (np.arange(max(begin, end), begin + length) - end) % loop
            out[first:] = self._as_float(self.audio[piece][where])
        return out

    def render(self, grain: int, contiguous: bool) -> np.ndarray:
        """Audio of one slot: the grain, crossfaded from the previous one unless contiguous.

        With a slot length other than the grain's own, the next grain in the corpus no longer
        continues what was played, so every joint is crossfaded.
        """
        begin = self._begin(grain)
        p, e = int(self.piece[grain]), begin + self._length(grain)
        slot = self.peek(grain)
        if not contiguous or begin != int(self.start[grain]) or e != int(self.end[grain]):
            n = min(self.crossfade, len(slot))
            slot[:n] = slot[:n] * self.fade_in[:n] + self._tail[:n] * self.fade_out[:n]
        self._tail = self.continuation(p, e, self.crossfade)
        return slot

    def silence(self, samples: int) -> np.ndarray:
        """A silent slot (muted or warming up); the next grain fades in from silence."""
        self._tail = np.zeros(self.crossfade, dtype=np.float32)
        return np.zeros(samples, dtype=np.float32)
