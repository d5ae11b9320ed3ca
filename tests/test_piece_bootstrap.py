"""The bootstrap over held-out pieces (agent/piece_bootstrap.py) on figures with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from agent.piece_bootstrap import pooled_ratio_interval


def test_the_same_ratio_on_every_piece_has_no_spread() -> None:
    lookup = np.array([[0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.1, 0.3]])
    ratio, low, high = pooled_ratio_interval(1.5 * lookup, lookup, weights=np.array([100, 300, 50, 200]))
    assert ratio == pytest.approx(1.5) and low == pytest.approx(1.5) and high == pytest.approx(1.5)


def test_the_ratio_is_pooled_hits_over_pooled_hits_not_a_mean_of_ratios() -> None:
    model = np.array([[0.40, 0.10, 0.30], [0.50, 0.05, 0.30]])
    lookup = np.array([[0.10, 0.30, 0.10], [0.30, 0.10, 0.05]])
    chunks = np.array([100.0, 300.0, 50.0])
    hits_model = (model * chunks).sum()
    hits_lookup = (lookup * chunks).sum()
    ratio, _, _ = pooled_ratio_interval(model, lookup, weights=chunks)
    assert ratio == pytest.approx(hits_model / hits_lookup)
    # not the mean of the per-piece or per-seed ratios, which differ here
    assert abs(ratio - np.average(model.sum(0) / lookup.sum(0), weights=chunks)) > 0.05
    assert abs(ratio - np.mean((model * chunks).sum(1) / (lookup * chunks).sum(1))) > 0.05
    assert pooled_ratio_interval(model, lookup)[0] == pytest.approx(model.sum() / lookup.sum())


def test_pieces_that_disagree_widen_the_interval_around_the_ratio() -> None:
    rng = np.random.default_rng(1)
    lookup = np.full((3, 10), 0.2)
    model = lookup * rng.uniform(0.8, 2.0, size=10)  # each piece its own ratio, every seed alike
    ratio, low, high = pooled_ratio_interval(model, lookup)
    assert low < ratio < high and high - low > 0.2
    assert high < (model / lookup).max() and low > (model / lookup).min()  # percentiles, not the extremes
    assert pooled_ratio_interval(model, lookup, seed=5) != (ratio, low, high)  # another draw, another interval
    assert pooled_ratio_interval(model, lookup) == (ratio, low, high)  # the same seed, the same interval


def test_every_seed_gets_the_same_draw_of_pieces() -> None:
    # piece p is easy (ratio 2) or hard (ratio 0.5) for every seed alike: a shared draw keeps that
    # spread, while independent draws per seed would average it away and narrow the interval
    pieces = 8
    lookup = np.full((4, pieces), 0.2)
    model = lookup * np.where(np.arange(pieces) % 2 == 0, 2.0, 0.5)
    _, low, high = pooled_ratio_interval(model, lookup, resamples=4000)
    picks = np.random.default_rng(0).integers(0, pieces, (4000, 4, pieces))  # each seed its own draw
    per_seed = np.take_along_axis(np.broadcast_to(model, (4000, 4, pieces)), picks, axis=2).sum((1, 2)) / (0.2 * 4 * pieces)
    independent = np.percentile(per_seed, 97.5) - np.percentile(per_seed, 2.5)
    assert high - low > 1.5 * independent


def test_a_draw_without_a_denominator_is_left_out_not_made_huge() -> None:
    ratio, low, high = pooled_ratio_interval(np.array([[0.2, 0.3]]), np.array([[0.1, 0.0]]), resamples=2000)
    assert ratio == pytest.approx(5.0)
    assert 2.0 <= low <= high <= 5.0  # draws of only the second piece have no ratio; they are not 0.3 / 1e-12


def test_one_group_per_piece_draws_exactly_as_without_groups() -> None:
    rng = np.random.default_rng(3)
    lookup = rng.uniform(0.1, 0.3, (3, 7))
    model = lookup * rng.uniform(0.8, 2.0, (3, 7))
    chunks = rng.integers(50, 400, 7).astype(float)
    names = ["w5", "w2", "w9", "w0", "w7", "w1", "w3"]  # not sorted: groups are drawn in the order they first appear
    assert pooled_ratio_interval(model, lookup, chunks, groups=names) == pooled_ratio_interval(model, lookup, chunks)


def test_renderings_of_one_work_are_drawn_together() -> None:
    # 4 works x 3 renderings; each work has its own ratio, shared by its renderings. Drawing the 12
    # renderings as if independent narrows the interval; drawing works keeps its true width
    works = [f"w{i // 3}" for i in range(12)]
    lookup = np.full((2, 12), 0.2)
    model = lookup * np.repeat([0.6, 1.0, 1.6, 2.4], 3)
    ratio, low, high = pooled_ratio_interval(model, lookup, groups=works, resamples=4000)
    _, low_p, high_p = pooled_ratio_interval(model, lookup, resamples=4000)
    assert ratio == pytest.approx(model.sum() / lookup.sum())
    assert high - low > 1.3 * (high_p - low_p)


def test_malformed_figures_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        pooled_ratio_interval(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one shape"):
        pooled_ratio_interval(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="one shape"):
        pooled_ratio_interval(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="finite"):
        pooled_ratio_interval(np.array([[np.nan, 0.1]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="weights"):
        pooled_ratio_interval(np.ones((1, 3)), np.ones((1, 3)), weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weights"):
        pooled_ratio_interval(np.ones((1, 3)), np.ones((1, 3)), weights=np.zeros(3))
    with pytest.raises(ValueError, match="resamples"):
        pooled_ratio_interval(np.ones((1, 3)), np.ones((1, 3)), resamples=0)
    with pytest.raises(ValueError, match="denominator"):
        pooled_ratio_interval(np.ones((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="groups"):
        pooled_ratio_interval(np.ones((1, 3)), np.ones((1, 3)), groups=["a", "b"])
