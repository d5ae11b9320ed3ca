"""The tempo of a loop as a listener's beat tracker hears it (issue 16's tempo-accuracy measure).

A loop wraps, so it is heard tiled ``repeats`` times (a 2-bar loop alone is too short for a tempo
estimate), at ``ANALYSIS_RATE_HZ`` whatever its own rate. The estimate is librosa's
(``librosa.feature.tempo``: onset-strength autocorrelation with its default log-normal prior
around 120 bpm), on a fine hop (``HOP_SAMPLES``: 8 ms, so the lag grid is under 2 % of a beat
period up to 150 bpm and does not decide the 4 % test). A loop's tempo is right when the estimate
is within ``TOLERANCE`` (4 %) of the true tempo; half or double the tempo (an octave error) is
wrong. The prior makes the measure valid for about 60..150 bpm: much faster loops tend to be heard
at half tempo.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 0.04
REPEATS = 4
ANALYSIS_RATE_HZ = 16_000
HOP_SAMPLES = 128


def loop_tempo(audio: np.ndarray, rate_hz: int, repeats: int = REPEATS) -> float:
    """Estimated bpm of a loop heard ``repeats`` times in a row (0.0 for silence)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) == 0 or float(np.max(np.abs(audio))) < 1e-4:
        return 0.0
    if rate_hz != ANALYSIS_RATE_HZ:
        audio = librosa.resample(audio, orig_sr=rate_hz, target_sr=ANALYSIS_RATE_HZ)
    tiled = np.tile(audio, max(1, repeats))
    envelope = librosa.onset.onset_strength(y=tiled, sr=ANALYSIS_RATE_HZ, hop_length=HOP_SAMPLES)
    return float(librosa.feature.tempo(onset_envelope=envelope, sr=ANALYSIS_RATE_HZ, hop_length=HOP_SAMPLES, aggregate=np.median)[0])


def tempo_is_right(estimate_bpm: float, true_bpm: float, tolerance: float = TOLERANCE) -> bool:
    """Within ``tolerance`` of the true tempo (octave errors count as wrong)."""
    return true_bpm > 0 and abs(estimate_bpm / true_bpm - 1.0) <= tolerance
