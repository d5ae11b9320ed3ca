"""The bootstrap over held-out pieces (agent/decision/piece_bootstrap.py) on figures with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from agent.decision.piece_bootstrap import pooled_ratio_interval


def test_the_same_ratio_on_every_piece_has_no_spread() -> None:
    lookup = np.array([[0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.1, 0.3]])
    ratio, low, high = pooled_ratio_interval(1.5 * lookup, lookup, weights=np.array([100, 300, 50, 200]))
    assert ratio == pytest.approx(1.5) and low == pytest.approx(1.5) and high == pytest.approx(1.5)


def test_the_ratio_is_pooled_by_weight_over_seeds_and_pieces() -> None:
    model = np.array([[0.3, 0.1], [0.5, 0.1]])
    lookup = np.array([[0.1, 0.1], [0.1, 0.1]])
    ratio, _, _ = pooled_ratio_interval(model, lookup, weights=np.array([1.0, 3.0]))
    assert ratio == pytest.approx((0.3 + 0.5 + 3 * (0.1 + 0.1)) / (0.1 + 0.1 + 3 * (0.1 + 0.1)))
    assert pooled_ratio_interval(model, lookup)[0] == pytest.approx(1.0 / 0.4)


def test_pieces_that_disagree_widen_the_interval_around_the_ratio() -> None:
    rng = np.random.default_rng(1)
    lookup = np.full((3, 10), 0.2)
    model = lookup * rng.uniform(0.8, 2.0, size=10)  # each piece its own ratio, every seed alike
    ratio, low, high = pooled_ratio_interval(model, lookup)
    assert low < ratio < high and high - low > 0.2
    assert pooled_ratio_interval(model, lookup, seed=5) != (ratio, low, high)  # another draw, another interval
    assert pooled_ratio_interval(model, lookup) == (ratio, low, high)  # the same seed, the same interval


def test_malformed_figures_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        pooled_ratio_interval(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="weights"):
        pooled_ratio_interval(np.ones((1, 3)), np.ones((1, 3)), weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="denominator"):
        pooled_ratio_interval(np.ones((1, 3)), np.zeros((1, 3)))
