"""The loop generator's measures on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from agent.loops.loop_metrics import frechet_distance, seam, stft_distance

RATE = 16_000


def test_a_tone_that_wraps_whole_has_no_click_and_one_cut_short_has_one() -> None:
    t = np.arange(2 * RATE) / RATE
    clean = seam(np.sin(2 * np.pi * 200 * t), RATE)  # 400 whole periods
    broken = seam(np.sin(2 * np.pi * 200.25 * t), RATE)  # a quarter period short: the wrap jumps
    assert clean.click_ratio < 1.1 and broken.click_ratio > 5.0
    assert abs(clean.level_jump_db) < 0.1 and abs(clean.level_jump_mid_db) < 0.1
    fading = seam(np.sin(2 * np.pi * 200 * t) * np.linspace(1.0, 0.1, 2 * RATE), RATE)  # loud start, quiet end
    assert fading.level_jump_db > 15 and abs(fading.level_jump_mid_db) < 0.5
    with pytest.raises(ValueError, match="too short"):
        seam(np.zeros(100), RATE)


def test_the_stft_distance_is_zero_for_the_same_sound_and_grows_with_the_difference() -> None:
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * 330 * np.arange(RATE) / RATE) * 0.5
    noisy = [x + rng.normal(scale=s, size=RATE) for s in (0.01, 0.1)]
    assert stft_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert 0 < stft_distance(x, noisy[0]) < stft_distance(x, noisy[1])


def test_the_frechet_distance_of_shifted_gaussians_is_the_squared_shift() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20_000, 3))
    b = rng.normal(size=(20_000, 3)) + np.array([2.0, 0.0, 0.0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.1)
    assert frechet_distance(a, rng.normal(size=(20_000, 3)) * 2.0) == pytest.approx(3.0, abs=0.15)  # Tr(1 + 4 - 2 * 2) per axis
