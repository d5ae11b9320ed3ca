"""Training and evaluation sequences for the decision model, from label sequences of paired tracks.

For one piece with performer labels ``a[0..T)`` and answer labels ``b[0..T)``, and anticipation d:
step t sees ``a[t]`` and the answer label played last, ``b[t + d - 1]`` (``start`` at t = 0), and
its target is ``b[t + d]``. Training takes random crops of these aligned arrays, so a crop that
starts mid-piece still carries the true previous answer label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = -100


@dataclass(frozen=True)
class StepSequence:
    """Aligned per-step arrays of one piece (int64, same length)."""

    name: str
    source: np.ndarray
    answer_prev: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return int(len(self.target))


def step_sequence(name: str, source: np.ndarray, answer: np.ndarray, anticipation: int, start_token: int) -> StepSequence:
    """Turn a piece's (performer, answer) label sequences into model inputs and targets."""
    a = np.asarray(source, dtype=np.int64)
    b = np.asarray(answer, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("source and answer label sequences must be 1-D and of equal length")
    steps = max(len(a) - anticipation, 0)
    prev = np.full(steps, start_token, dtype=np.int64)
    if steps > 1:
        prev[1:] = b[anticipation : anticipation + steps - 1]
    return StepSequence(name=name, source=a[:steps], answer_prev=prev, target=b[anticipation : anticipation + steps])


def random_crops(
    sequences: list[StepSequence], crop_chunks: int, rng: np.random.Generator, pad_token: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut every sequence into crops of at most ``crop_chunks`` steps at a random offset; shuffled.

    Every step lands in exactly one crop; the offset moves the cuts from epoch to epoch.

    Returns (source, answer_prev, target), each int64 [n_crops, crop_chunks]; padding steps have
    target ``IGNORE_INDEX``, source label 0 and previous answer ``pad_token`` (they come last in a
    crop, so causality keeps them from mattering).
    """
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for seq in sequences:
        n = len(seq)
        if n == 0:
            continue
        offset = int(rng.integers(0, crop_chunks)) if n > crop_chunks else 0
        cuts = sorted({0, n, *range(offset, n, crop_chunks)})
        for s, e in zip(cuts[:-1], cuts[1:]):
            pad = crop_chunks - (e - s)
            rows.append(
                (
                    np.pad(seq.source[s:e], (0, pad), constant_values=0),
                    np.pad(seq.answer_prev[s:e], (0, pad), constant_values=pad_token),
                    np.pad(seq.target[s:e], (0, pad), constant_values=IGNORE_INDEX),
                )
            )
    order = rng.permutation(len(rows))
    stack = [np.stack([rows[i][j] for i in order]) for j in range(3)]
    return stack[0], stack[1], stack[2]
