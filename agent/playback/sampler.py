"""Choosing a label from the decision model's logits: temperature and nucleus (top-p) sampling."""

from __future__ import annotations

import numpy as np


def sample_label(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Greedy when ``temperature`` is 0; else sample from the smallest set of labels whose
    probability mass reaches ``top_p`` (always at least the most likely one)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature <= 0.0:
        return int(np.argmax(z))
    z = (z - z.max()) / temperature
    p = np.exp(z)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = int(np.searchsorted(np.cumsum(p[order]), top_p) + 1)
    chosen = order[:keep]
    q = p[chosen] / p[chosen].sum()
    return int(chosen[rng.choice(len(chosen), p=q)])
