"""How far a held-out ratio can be trusted: a bootstrap over the held-out pieces.

The held-out set is a handful of pieces, and every seed is evaluated on the same ones, so the
spread over seeds says nothing about which pieces happened to be held out. Resampling the pieces
(the same draw for every seed) gives that uncertainty: e.g. the model's label accuracy over the
lookup table's, pooled over seeds and pieces, with its 95 % interval.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 10_000


def pooled_ratio_interval(numerator: np.ndarray, denominator: np.ndarray, weights: np.ndarray | None = None,
                          resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """(ratio, 2.5 %, 97.5 %) of sum(w * numerator) / sum(w * denominator) over seeds and pieces.

    ``numerator`` and ``denominator`` are per-piece figures [seeds, pieces] (e.g. the model's and the
    lookup table's accuracy on each piece); ``weights`` [pieces] (e.g. each piece's chunks; equal if
    None). Pieces are drawn with replacement, the same draw for every seed."""
    a = np.atleast_2d(np.asarray(numerator, dtype=np.float64))
    b = np.atleast_2d(np.asarray(denominator, dtype=np.float64))
    if a.shape != b.shape or a.shape[1] == 0:
        raise ValueError(f"numerator and denominator must be [seeds, pieces] of one shape with at least one piece, got {a.shape} and {b.shape}")
    w = np.ones(a.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (a.shape[1],) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"weights must be {a.shape[1]} non-negative numbers, not all 0")
    top, bottom = (a * w).sum(axis=0), (b * w).sum(axis=0)  # per piece, summed over seeds
    if bottom.sum() <= 0:
        raise ValueError("the denominator is 0 on every piece")
    picks = np.random.default_rng(seed).integers(0, a.shape[1], (resamples, a.shape[1]))
    boot = top[picks].sum(axis=1) / np.maximum(bottom[picks].sum(axis=1), 1e-12)
    return float(top.sum() / bottom.sum()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))
