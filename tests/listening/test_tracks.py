"""Pitch and onsets read off synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import AntiphonError
from agent.listening.tracks import ANALYSIS_RATE_HZ, ListeningConfig, analyse
from tests.conftest import note_train


def sine(freq_hz: float, seconds: float, rate_hz: int = ANALYSIS_RATE_HZ) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.mark.parametrize("freq_hz, rate_hz", [(110.0, 16_000), (330.0, 22_050), (880.0, 44_100)])
def test_pitch_of_a_sine_at_any_rate(freq_hz: float, rate_hz: int) -> None:
    track = analyse(sine(freq_hz, 1.5, rate_hz), rate_hz)
    voiced = track.f0_hz[np.isfinite(track.f0_hz)]
    assert track.voiced_share > 0.8
    assert abs(12 * np.log2(np.median(voiced) / freq_hz)) < 0.2  # within a fifth of a semitone


def test_silence_is_unpitched_and_has_no_onsets() -> None:
    track = analyse(np.zeros(ANALYSIS_RATE_HZ * 2, np.float32), ANALYSIS_RATE_HZ)
    assert track.voiced_share == 0.0 and len(track.onsets_s) == 0


def test_onsets_of_a_note_train() -> None:
    # a note every 0.4 s: onsets at 0.4, 0.8, ... (the first, at 0, has no flux before it)
    x = note_train(ANALYSIS_RATE_HZ, [60, 64, 67, 72, 67, 64, 60, 62], 0.4)
    track = analyse(x, ANALYSIS_RATE_HZ)
    expected = np.arange(1, 8) * 0.4
    found = [np.min(np.abs(track.onsets_s - e)) for e in expected]
    assert max(found) < 0.03
    assert len(track.onsets_s) <= 9


def test_bad_signals_and_settings_are_refused() -> None:
    with pytest.raises(AntiphonError, match="NaN"):
        analyse(np.array([0.0, np.nan] * 4000, np.float32), ANALYSIS_RATE_HZ)
    with pytest.raises(AntiphonError, match="two periods"):
        ListeningConfig(fmin_hz=20.0, frame_length_s=0.05)
    with pytest.raises(AntiphonError, match="interval classes"):
        ListeningConfig(consonant_interval_classes=(0, 12))
