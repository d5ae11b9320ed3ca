"""Consonance, onset agreement and listening gain: hand-computed cases and real pitch tracking."""

from __future__ import annotations

import numpy as np
import pytest

from agent.listening.fit import consonance_share, interval_classes, listening_score, onset_f_measure, score_answers
from agent.listening.tracks import ANALYSIS_RATE_HZ, Track, analyse
from tests.conftest import note_train
from tests.listening.test_tracks import sine


def track(f0: list[float], onsets: list[float] = ()) -> Track:
    return Track(f0_hz=np.array(f0, dtype=np.float64), onsets_s=np.array(onsets, dtype=np.float64), frame_hop_s=0.02)


def test_interval_classes_by_hand() -> None:
    a = track([440.0, 440.0, 440.0, np.nan, 440.0])
    b = track([220.0, 329.63, 311.13, 220.0])  # octave (0), fourth (5), tritone (6), unpitched in a
    np.testing.assert_array_equal(interval_classes(a, b), [0, 5, 6])
    assert consonance_share(a, b) == pytest.approx(1 / 3)
    assert np.isnan(consonance_share(a, track([np.nan] * 5)))  # never sound together


@pytest.mark.parametrize("ratio, consonant", [(1.5, True), (2 ** (4 / 12), True), (2 ** (6 / 12), False), (2 ** (1 / 12), False), (2 ** (11 / 12), False)])
def test_sine_pairs_through_real_pitch_tracking(ratio: float, consonant: bool) -> None:
    low = analyse(sine(196.0, 1.5), ANALYSIS_RATE_HZ)
    high = analyse(sine(196.0 * ratio, 1.5), ANALYSIS_RATE_HZ)
    share = consonance_share(high, low)
    assert share > 0.9 if consonant else share < 0.1


def test_onset_f_measure_by_hand_and_with_shifted_onsets() -> None:
    frames = [100.0] * 200  # 4 s
    ref = track(frames, [0.5, 1.0, 1.5, 2.0])
    assert onset_f_measure(ref, track(frames, [0.52, 1.03, 1.46, 2.0])) == 1.0  # all within +-50 ms
    assert onset_f_measure(ref, track(frames, [0.6, 1.1, 1.6, 2.1])) == 0.0  # all 100 ms late
    assert onset_f_measure(ref, track(frames, [0.5, 1.0])) == pytest.approx(2 * 1.0 * 0.5 / 1.5)  # P 1, R 0.5
    assert onset_f_measure(ref, track(frames, [])) == 0.0
    assert np.isnan(onset_f_measure(track(frames), track(frames)))


def test_shifted_note_trains_lose_onset_agreement() -> None:
    notes = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67]
    a = analyse(note_train(ANALYSIS_RATE_HZ, notes, 0.4), ANALYSIS_RATE_HZ)
    same = analyse(note_train(ANALYSIS_RATE_HZ, [n - 12 for n in notes], 0.4, seed=3), ANALYSIS_RATE_HZ)
    late = analyse(np.concatenate([np.zeros(int(0.2 * ANALYSIS_RATE_HZ), np.float32), note_train(ANALYSIS_RATE_HZ, [n - 12 for n in notes], 0.4, seed=3)]), ANALYSIS_RATE_HZ)
    assert onset_f_measure(a, same) > 0.8
    assert onset_f_measure(a, late) < 0.2


def test_listening_score_by_hand() -> None:
    m = np.array([[1.0, 0.5, 0.2], [0.25, 0.9, 0.4], [0.0, 0.3, 0.8]])
    s = listening_score(m)
    # each answer's mean under the other performers (columns without their diagonal)
    others = [(0.25 + 0.0) / 2, (0.5 + 0.3) / 2, (0.2 + 0.4) / 2]
    assert s.matched == pytest.approx(0.9)
    assert s.mismatched == pytest.approx(np.mean(others))
    assert s.gain == pytest.approx(0.9 - np.mean(others))
    # a piece whose matched fit is undefined is left out of both sides
    m2 = m.copy()
    m2[2, 2] = np.nan
    s2 = listening_score(m2)
    assert s2.matched == pytest.approx(0.95) and s2.mismatched == pytest.approx(np.mean(others[:2]))
    assert np.isnan(listening_score(np.array([[0.7]])).gain)  # one piece: nothing is mismatched
    # an answer that never sounds with another performer (NaN off the diagonal) is averaged over the rest
    m3 = m.copy()
    m3[1, 0] = np.nan
    s3 = listening_score(m3)
    assert s3.mismatched == pytest.approx(np.mean([0.0, (0.5 + 0.3) / 2, (0.2 + 0.4) / 2]))


def test_an_answer_that_follows_its_performer_listens_and_a_shuffled_one_does_not() -> None:
    """Pieces of random melodies; the true answer is each melody a fifth + octave below (consonant)."""
    rng = np.random.default_rng(7)
    melodies = [list(rng.integers(62, 80, 10)) for _ in range(4)]
    performers = [analyse(note_train(ANALYSIS_RATE_HZ, m, 0.4, seed=i), ANALYSIS_RATE_HZ) for i, m in enumerate(melodies)]
    answers = [analyse(note_train(ANALYSIS_RATE_HZ, [n - 19 for n in m], 0.4, seed=10 + i), ANALYSIS_RATE_HZ) for i, m in enumerate(melodies)]
    listening = score_answers(performers, answers)
    shuffled = score_answers(performers, answers[1:] + answers[:1])
    assert listening["consonance"].matched > 0.9
    assert listening["consonance"].gain > 0.25
    assert listening["onset_f"].gain > 0.0 or listening["onset_f"].matched > 0.8
    assert abs(shuffled["consonance"].gain) < listening["consonance"].gain / 2
    assert shuffled["consonance"].matched < 0.8
