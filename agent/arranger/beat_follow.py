"""A causal beat follower for the live arranger: tempo, beat phase and downbeat from the beat model's recent output.

The beat model (agent/arranger/frame_model.py, task "beats") gives per frame the probability of no
beat, a beat and a downbeat. Over the last ``window_s`` of it:

- **tempo**: the autocorrelation of the beat strength (beat + downbeat probability) over lags of
  ``min_bpm`` to ``max_bpm``, weighted by a broad prior around ``prior_bpm`` (an octave either side
  weighs 0.6), then refined within a frame to the period whose comb (below) collects the most
  strength; or a tempo given from outside (``/antiphon/<agent>/tempo``);
- **phase**: the comb of beats one period apart that collects the most strength, recent beats
  weighing more (``RECENCY`` per beat back);
- **downbeat**: which of every 4th beat of that comb collects the most downbeat probability.

Without a given tempo, a comb whose beats average less than ``min_strength`` of beat probability
(the offline tracker's ``MIN_BEAT_STRENGTH``) is no beat: a drone or noise gets no grid.

``grid()`` is the beat grid it predicts (it extrapolates: beats go on at the period after the last
one heard). Nothing here looks ahead of the frames given.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from agent.arranger.beat_eval import MIN_BEAT_STRENGTH

BEATS_PER_BAR = 4
RECENCY = 0.85  # weight of a beat one period further back, in the phase and downbeat combs
MIN_CONFIDENCE = 0.15  # an autocorrelation peak below this share of the signal's energy: no tempo found


@dataclass(frozen=True)
class BeatGrid:
    """Beats at ``last_beat_s + k x period_s``; beat ``downbeat_index`` (counted from the last one) falls on a bar line."""

    period_s: float
    last_beat_s: float
    downbeat_offset: int  # the last beat is beat (downbeat_offset) of its bar, 0 = a downbeat
    confidence: float  # 0..1: how periodic the strength was (1 for a tempo given from outside)

    @property
    def bpm(self) -> float:
        return 60.0 / self.period_s

    def downbeat_after(self, time_s: float) -> float:
        """The first predicted downbeat at or after ``time_s``."""
        first_down = self.last_beat_s - self.downbeat_offset * self.period_s
        bar = BEATS_PER_BAR * self.period_s
        return first_down + np.ceil((time_s - first_down) / bar - 1e-9) * bar

    def beat_near(self, time_s: float) -> float:
        """The predicted beat nearest ``time_s``."""
        return self.last_beat_s + np.round((time_s - self.last_beat_s) / self.period_s) * self.period_s


class BeatFollower:
    """Feed [n, 3] beat-model probabilities as frames arrive; ask for the ``grid``."""

    def __init__(self, frame_s: float, window_s: float = 8.0, min_bpm: float = 60.0, max_bpm: float = 200.0, prior_bpm: float = 110.0,
                 min_strength: float = MIN_BEAT_STRENGTH) -> None:
        self.frame_s = frame_s
        self.min_strength = min_strength
        self.window = int(round(window_s / frame_s))
        self.min_bpm, self.max_bpm, self.prior_bpm = min_bpm, max_bpm, prior_bpm
        self.reset()

    def reset(self) -> None:
        self.strength: deque[float] = deque(maxlen=self.window)
        self.down: deque[float] = deque(maxlen=self.window)
        self.frames = 0  # frames given since reset

    def push(self, probs: np.ndarray) -> None:
        for p in np.asarray(probs, dtype=np.float64).reshape(-1, 3):
            self.strength.append(float(p[1] + p[2]))
            self.down.append(float(p[2]))
            self.frames += 1

    def heard_s(self) -> float:
        return len(self.strength) * self.frame_s

    def grid(self, bpm: float | None = None, min_heard_s: float = 4.0) -> BeatGrid | None:
        """The predicted beat grid (``bpm``: the tempo is given, only phase and downbeat are followed);
        None until ``min_heard_s`` of frames were heard, or when no tempo stands out."""
        if self.heard_s() < min_heard_s:
            return None
        s = np.asarray(self.strength)
        if bpm:
            period, confidence = 60.0 / bpm / self.frame_s, 1.0
        else:
            found = self._tempo(s)
            if found is None:
                return None
            period, confidence = self._refine(s, found[0]), found[1]
        phase = self._phase(s, period)
        at, _ = self._comb(len(s), period, phase)
        heard = np.interp(at, np.arange(len(s)), s)
        if not bpm and (len(heard) == 0 or float(heard.mean()) < self.min_strength):
            return None  # the best comb's beats are not heard as beats (a drone, noise): no beat found
        end = self.frames - 1  # the newest frame's index since reset
        last_beat = end - phase
        offset = self._bar_position(np.asarray(self.down), period, phase)
        return BeatGrid(period_s=period * self.frame_s, last_beat_s=last_beat * self.frame_s, downbeat_offset=offset, confidence=confidence)

    def _tempo(self, s: np.ndarray) -> tuple[float, float] | None:
        x = s - s.mean()
        energy = float(x @ x)
        if energy <= 1e-9:
            return None
        lo = max(2, int(np.floor(60.0 / self.max_bpm / self.frame_s)))
        hi = min(len(x) // 2, int(np.ceil(60.0 / self.min_bpm / self.frame_s)))
        if hi <= lo + 1:
            return None
        lags = np.arange(lo - 1, hi + 2)
        ac = np.array([float(x[: len(x) - k] @ x[k:]) for k in lags]) / energy
        bpms = 60.0 / (lags * self.frame_s)
        weighted = ac * np.exp(-0.5 * (np.log2(bpms / self.prior_bpm)) ** 2)
        i = int(np.argmax(weighted[1:-1])) + 1
        if ac[i] < MIN_CONFIDENCE:
            return None
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
        return float(lags[i] + np.clip(shift, -0.5, 0.5)), float(min(1.0, ac[i]))

    def _refine(self, s: np.ndarray, period: float) -> float:
        """The period within a frame of the autocorrelation's whose best comb collects the most strength."""
        candidates = period + np.arange(-1.0, 1.0001, 0.05)
        return float(candidates[int(np.argmax([self._phase_scores(s, p).max() for p in candidates]))])

    def _comb(self, n: int, period: float, phase: float) -> tuple[np.ndarray, np.ndarray]:
        """Frame positions (newest last = n - 1) of the beats of a comb, newest first, and their weights."""
        count = int((n - 1 - phase) // period) + 1
        at = (n - 1 - phase) - period * np.arange(max(count, 0))
        return at, RECENCY ** np.arange(len(at))

    def _phase_scores(self, s: np.ndarray, period: float) -> np.ndarray:
        """The strength each comb of ``period`` collects, for phases 0, 0.25, ... frames back from the newest frame."""
        phases = np.arange(0.0, period, 0.25)
        beats = np.arange(int((len(s) - 1) // period) + 1)
        at = (len(s) - 1 - phases)[:, None] - period * beats[None, :]  # [phases, beats]
        weights = np.where(at >= 0, RECENCY ** beats[None, :], 0.0)
        return (np.interp(at, np.arange(len(s)), s) * weights).sum(axis=1)

    def _phase(self, s: np.ndarray, period: float) -> float:
        """Frames from the newest frame back to the last beat, in [0, period)."""
        return 0.25 * float(np.argmax(self._phase_scores(s, period)))

    def _bar_position(self, down: np.ndarray, period: float, phase: float) -> int:
        """Which beat of its bar the last beat is (0: a downbeat)."""
        at, w = self._comb(len(down), period, phase)
        values = w * np.interp(at, np.arange(len(down)), down)
        # beat j back is a downbeat when j = offset (mod 4)
        scores = [float(values[q::BEATS_PER_BAR].sum()) for q in range(BEATS_PER_BAR)]
        return int(np.argmax(scores))
