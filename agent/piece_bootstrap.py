"""How far a held-out ratio can be trusted: a bootstrap over the held-out pieces (or songs:
agent/arranger/texture_eval.py resamples its per-bar differences with it).

The held-out set is a handful of pieces, and every seed is evaluated on the same ones, so the
spread over seeds says nothing about which pieces happened to be held out. Resampling the pieces
(the same draw for every seed) gives that uncertainty: e.g. the model's label accuracy over the
lookup table's, pooled over seeds and pieces, with its 95 % interval. A percentile bootstrap over
few pieces tends to be too narrow, and it holds the trained models fixed: read it as a lower bound
on the uncertainty. Pieces that are renderings of one work (transposed, re-orchestrated) are not
independent: ``groups`` draws whole works, every rendering of a drawn work together.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 10_000


def pooled_ratio_interval(numerator: np.ndarray, denominator: np.ndarray, weights: np.ndarray | None = None,
                          resamples: int = RESAMPLES, seed: int = 0, groups: list[str] | None = None) -> tuple[float, float, float]:
    """(ratio, 2.5 %, 97.5 %) of sum(w * numerator) / sum(w * denominator) over seeds and pieces.

    ``numerator`` and ``denominator`` are per-piece figures [seeds, pieces] (e.g. the model's and the
    lookup table's accuracy on each piece); ``weights`` [pieces] (e.g. each piece's chunks; equal if
    None). Pieces are drawn with replacement, the same draw for every seed; a draw whose
    denominator is 0 has no ratio and is left out of the percentiles. ``groups`` [pieces] (e.g.
    each piece's work): whole groups are drawn instead, in the order they first appear (one group
    per piece draws exactly as without groups)."""
    a = np.asarray(numerator, dtype=np.float64)
    b = np.asarray(denominator, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"numerator and denominator must be [seeds, pieces] of one shape with at least one seed and one piece, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(b >= 0)):
        raise ValueError("numerator and denominator must be finite, the denominator 0 or positive")
    w = np.ones(a.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (a.shape[1],) or not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"weights must be {a.shape[1]} finite non-negative numbers, not all 0")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    top, bottom = (a * w).sum(axis=0), (b * w).sum(axis=0)  # per piece, summed over seeds
    if groups is not None:
        if len(groups) != a.shape[1]:
            raise ValueError(f"groups must name the group of each of the {a.shape[1]} pieces, got {len(groups)}")
        order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
        index = np.array([order[g] for g in groups])
        top, bottom = np.bincount(index, top, len(order)), np.bincount(index, bottom, len(order))
    if bottom.sum() <= 0:
        raise ValueError("the denominator is 0 on every piece")
    picks = np.random.default_rng(seed).integers(0, len(top), (resamples, len(top)))
    drawn_bottom = bottom[picks].sum(axis=1)
    boot = np.full(resamples, np.nan)
    has = drawn_bottom > 0
    boot[has] = top[picks[has]].sum(axis=1) / drawn_bottom[has]
    return float(top.sum() / bottom.sum()), float(np.nanpercentile(boot, 2.5)), float(np.nanpercentile(boot, 97.5))
