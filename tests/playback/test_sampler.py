import numpy as np

from agent.playback.sampler import sample_label


def test_greedy_at_zero_temperature() -> None:
    assert sample_label(np.array([0.1, 3.0, 2.9]), 0.0, 0.9, np.random.default_rng(0)) == 1


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = np.log(np.array([0.6, 0.3, 0.05, 0.05]))
    rng = np.random.default_rng(0)
    draws = [sample_label(logits, 1.0, 0.85, rng) for _ in range(2000)]
    assert set(draws) == {0, 1}
    assert 0.6 < np.mean(np.array(draws) == 0) < 0.73  # 0.6 / 0.9 = 0.667 renormalised


def test_seeded_sampling_is_reproducible() -> None:
    logits = np.random.default_rng(1).normal(size=16)
    one = [sample_label(logits, 1.0, 1.0, np.random.default_rng(5)) for _ in range(3)]
    two = [sample_label(logits, 1.0, 1.0, np.random.default_rng(5)) for _ in range(3)]
    assert one == two
