"""How well an answer fits its performer, and how much of that fit comes from listening.

- *consonance share*: in frames where both tracks are pitched, the share whose interval class
  (semitones between the two f0s, rounded, mod 12) is consonant (0 3 4 7 8 9 by default);
- *onset F-measure*: the answer's onsets against the performer's, within +-``onset_window_s``
  (``mir_eval.onset.f_measure``);
- *listening gain*: a fit for each answer under its own performer (matched) minus the mean of the
  same answer under every other performer (mismatched). An answer that ignores its input scores
  about 0 whatever its style; the true answer track gives the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from agent.listening.tracks import ListeningConfig, Track


def interval_classes(performer: Track, answer: Track) -> np.ndarray:
    """Interval class (0..11) of every frame where both are pitched (frames aligned from 0)."""
    n = min(len(performer.f0_hz), len(answer.f0_hz))
    a, b = performer.f0_hz[:n], answer.f0_hz[:n]
    both = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    semitones = np.rint(12.0 * np.log2(a[both] / b[both])).astype(np.int64)
    return np.mod(semitones, 12)


def consonance_share(performer: Track, answer: Track, config: ListeningConfig = ListeningConfig()) -> float:
    """Share of consonant intervals where both sound; NaN when they never sound together."""
    classes = interval_classes(performer, answer)
    if len(classes) == 0:
        return float("nan")
    return float(np.isin(classes, config.consonant_interval_classes).mean())


def onset_f_measure(performer: Track, answer: Track, config: ListeningConfig = ListeningConfig()) -> float:
    """F-measure of the answer's onsets against the performer's (+-window); NaN if neither has onsets."""
    import mir_eval

    horizon = min(len(performer.f0_hz), len(answer.f0_hz)) * performer.frame_hop_s
    ref = performer.onsets_s[performer.onsets_s < horizon]
    est = answer.onsets_s[answer.onsets_s < horizon]
    if len(ref) == 0 and len(est) == 0:
        return float("nan")
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    f, _, _ = mir_eval.onset.f_measure(ref, est, window=config.onset_window_s)
    return float(f)


Fit = Callable[[Track, Track, ListeningConfig], float]
FITS: dict[str, Fit] = {"consonance": consonance_share, "onset_f": onset_f_measure}


def pairing_matrix(performers: Sequence[Track], answers: Sequence[Track], fit: Fit, config: ListeningConfig = ListeningConfig()) -> np.ndarray:
    """[i, j] = fit of answer j played under performer i (the diagonal is the matched pairing)."""
    if len(performers) != len(answers):
        raise ValueError("one answer per performer is needed")
    return np.array([[fit(p, a, config) for a in answers] for p in performers], dtype=np.float64)


@dataclass(frozen=True)
class ListeningScore:
    """Matched, mismatched and gain of one fit over a set of pieces (NaN entries are skipped)."""

    matched: float
    mismatched: float
    per_piece_matched: tuple[float, ...]

    @property
    def gain(self) -> float:
        return self.matched - self.mismatched

    def to_dict(self) -> dict:
        def r(x: float) -> float | None:
            return None if not np.isfinite(x) else round(float(x), 4)

        return {"matched": r(self.matched), "mismatched": r(self.mismatched), "gain": r(self.gain), "per_piece_matched": [r(x) for x in self.per_piece_matched]}


def listening_score(matrix: np.ndarray) -> ListeningScore:
    """Matched = mean of the diagonal; mismatched = mean over answers of each answer's mean under
    the other performers. Pieces whose matched or mismatched fit is undefined (NaN) are left out;
    with fewer than two pieces nothing is mismatched (NaN).
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = len(m)
    diagonal = np.diag(m).copy()
    off = np.where(np.eye(n, dtype=bool), np.nan, m)
    valid = np.isfinite(off)
    counts = valid.sum(axis=0)
    per_answer = np.where(counts > 0, np.where(valid, off, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)
    keep = np.isfinite(diagonal) & np.isfinite(per_answer)
    if not keep.any():
        return ListeningScore(matched=float("nan"), mismatched=float("nan"), per_piece_matched=tuple(float(x) for x in diagonal))
    return ListeningScore(
        matched=float(diagonal[keep].mean()), mismatched=float(per_answer[keep].mean()), per_piece_matched=tuple(float(x) for x in diagonal)
    )


def score_answers(performers: Sequence[Track], answers: Sequence[Track], config: ListeningConfig = ListeningConfig()) -> dict[str, ListeningScore]:
    """Every fit (consonance, onset F-measure) as matched / mismatched / gain."""
    return {name: listening_score(pairing_matrix(performers, answers, fit, config)) for name, fit in FITS.items()}


def shifted(track: Track, seconds: float) -> Track:
    """The same track started ``seconds`` later, wrapped around its end (a control: the same
    notes, key and style, out of time with what it is compared with)."""
    frames = len(track.f0_hz)
    duration = frames * track.frame_hop_s
    if frames == 0:
        return track
    step = int(round(seconds / track.frame_hop_s)) % frames
    return Track(f0_hz=np.roll(track.f0_hz, step), onsets_s=np.sort((track.onsets_s + step * track.frame_hop_s) % duration), frame_hop_s=track.frame_hop_s)


def take_listening(performer: Track, answer: Track, config: ListeningConfig = ListeningConfig()) -> dict[str, dict[str, float | None]]:
    """One take's fits: the answer under its performer, and under the same performer shifted by
    half the take (the in-take control; the gain over pieces needs several takes: ``evaluate``)."""
    half = 0.5 * min(len(performer.f0_hz), len(answer.f0_hz)) * performer.frame_hop_s
    control = shifted(performer, half)
    out: dict[str, dict[str, float | None]] = {}
    for name, fit in FITS.items():
        matched, other = fit(performer, answer, config), fit(control, answer, config)
        out[name] = {
            "matched": None if not np.isfinite(matched) else round(matched, 4),
            "performer_shifted_half_take": None if not np.isfinite(other) else round(other, 4),
            "gain": None if not (np.isfinite(matched) and np.isfinite(other)) else round(matched - other, 4),
        }
    return out
