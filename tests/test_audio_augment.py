"""The augmentation chain on signals with known answers: EQ gains, a room's tail, noise at a set
SNR, seeded reproducibility, silence, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from agent.audio_augment import AugmentConfig, _biquad, augment, piece_rng, room_response
from agent.errors import AntiphonError

RATE = 16000
ONLY_GAIN = dict(eq_prob=0.0, reverb_prob=0.0, noise_prob=0.0)


def sine(f_hz: float, seconds: float = 1.0, amp: float = 0.1) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * f_hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def test_a_seed_gives_one_chain_and_another_seed_another() -> None:
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    a, b = augment(x, RATE, np.random.default_rng(5)), augment(x, RATE, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert not np.allclose(a, augment(x, RATE, np.random.default_rng(6)))
    assert piece_rng(1, "001-bwv269").random() == piece_rng(1, "001-bwv269").random() != piece_rng(1, "001-bwv269@v1").random()


def test_gain_only_scales_within_its_range() -> None:
    x = sine(440.0)
    config = AugmentConfig(gain_db_min=-6.0, gain_db_max=-6.0, **ONLY_GAIN)
    assert rms_db(augment(x, RATE, np.random.default_rng(0), config)) == pytest.approx(rms_db(x) - 6.0, abs=0.01)


def test_shelves_and_peaks_change_the_bands_they_name() -> None:
    low, high = sine(100.0), sine(5000.0)
    from scipy.signal import lfilter

    b, a = _biquad("low", 300.0, 6.0, 0.7, RATE)
    assert rms_db(lfilter(b, a, low)[4000:]) - rms_db(low[4000:]) == pytest.approx(6.0, abs=0.5)
    assert rms_db(lfilter(b, a, high)[4000:]) - rms_db(high[4000:]) == pytest.approx(0.0, abs=0.5)
    b, a = _biquad("high", 2000.0, -9.0, 0.7, RATE)
    assert rms_db(lfilter(b, a, high)[4000:]) - rms_db(high[4000:]) == pytest.approx(-9.0, abs=0.7)
    assert rms_db(lfilter(b, a, low)[4000:]) - rms_db(low[4000:]) == pytest.approx(0.0, abs=0.5)
    b, a = _biquad("peak", 1000.0, 8.0, 1.0, RATE)
    assert rms_db(lfilter(b, a, sine(1000.0))[4000:]) - rms_db(sine(1000.0)[4000:]) == pytest.approx(8.0, abs=0.3)


def test_a_room_leaves_a_tail_of_the_drawn_length() -> None:
    ir = room_response(0.5, RATE, np.random.default_rng(0))
    assert np.sum(ir**2) == pytest.approx(1.0)
    click = np.zeros(RATE, dtype=np.float32)
    click[100] = 0.5
    config = AugmentConfig(reverb_prob=1.0, reverb_rt60_s_min=0.5, reverb_rt60_s_max=0.5, reverb_wet_max=0.6,
                           gain_db_min=0.0, gain_db_max=0.0, eq_prob=0.0, noise_prob=0.0)
    y = augment(click, RATE, np.random.default_rng(1), config)
    assert np.max(np.abs(y[:100])) < 1e-9  # nothing before the sound (FFT rounding aside)
    tail = y[100 + int(0.05 * RATE): 100 + int(0.2 * RATE)]
    late = y[100 + int(0.6 * RATE):]
    assert np.sqrt(np.mean(tail**2)) > 1e-4 and np.max(np.abs(late)) < 1e-9  # a tail 50-200 ms on, none past the room's length


def test_noise_lands_at_the_drawn_snr_and_silence_stays_silent() -> None:
    x = sine(440.0)
    config = AugmentConfig(noise_prob=1.0, noise_snr_db_min=20.0, noise_snr_db_max=20.0, gain_db_min=0.0, gain_db_max=0.0,
                           eq_prob=0.0, reverb_prob=0.0)
    for seed in range(4):  # white or pinkish, both at the set SNR
        y = augment(x, RATE, np.random.default_rng(seed), config)
        assert rms_db(x) - rms_db(y - x) == pytest.approx(20.0, abs=0.3)
    silent = augment(np.zeros(RATE, dtype=np.float32), RATE, np.random.default_rng(0), AugmentConfig(noise_prob=1.0, reverb_prob=1.0))
    assert np.all(silent == 0.0)


def test_the_output_stays_in_range() -> None:
    loud = np.clip(np.random.default_rng(0).standard_normal(RATE), -1, 1).astype(np.float32)
    for seed in range(5):
        assert np.max(np.abs(augment(loud, RATE, np.random.default_rng(seed), AugmentConfig(gain_db_min=6.0)))) <= 1.0


@pytest.mark.parametrize("bad, words", [
    (dict(eq_prob=1.5), "eq_prob must be between 0 and 1"),
    (dict(gain_db_min=3.0, gain_db_max=0.0), "gain_db_min (3.0) is above gain_db_max"),
    (dict(reverb_rt60_s_min=0.0), "reverb times"),
    (dict(eq_bands_max=0), "eq_bands_max"),
])
def test_bad_ranges_are_refused_in_one_line(bad: dict, words: str) -> None:
    with pytest.raises(AntiphonError) as err:
        AugmentConfig(**bad)
    assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(AntiphonError, match="mono"):
        augment(np.zeros((2, 100), dtype=np.float32), RATE, np.random.default_rng(0))
    with pytest.raises(AntiphonError, match="unknown augment"):
        AugmentConfig.from_dict({"wetness": 1.0})


def test_a_negative_seed_is_refused_only_where_a_chain_is_drawn() -> None:
    from agent.corpus.perceive import source_hearing

    with pytest.raises(AntiphonError, match="an augmentation seed must be 0 or more, got -1"):
        piece_rng(-1, "a")
    assert source_hearing(-1, "a", 0.0) is None  # no augmentation: any corpus seed goes
    with pytest.raises(AntiphonError, match="must be 0 or more"):
        source_hearing(-1, "a", 1.0)
