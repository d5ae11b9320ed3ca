"""Choosing the corpus grain that plays a predicted label.

Order of preference: (1) the grain that follows the last played grain in the corpus, if it has
the predicted label (contiguity: longer runs of original audio sound smoother); (2) among the
grains of that label, the one nearest in feature space to that continuation (or to the label's
centroid when there is none), skipping grains played within the taboo window; (3) when the label
has no grain at all, the nearest label (by centroid distance) that has grains, counted as a
fallback. It never returns "no grain".

Thread ownership: a selector's history belongs to the one thread that calls ``choose``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from agent.playback.sampler import sample_label
from agent.errors import AntiphonError

DEFAULT_TABOO_GRAINS = 4  # what the engine plays with (EngineConfig.taboo_grains) and evaluation renders "as live"
CONTINUATION_MARGIN = 1.0  # listener scores (logits): keep the recording going when this close to the best


@dataclass(frozen=True)
class Choice:
    grain: int
    label: int  # label actually played (differs from the request on a fallback)
    contiguous: bool
    fallback: bool


class GrainSelector:
    """Grain choice over a corpus's grains (optionally restricted to some pieces)."""

    def __init__(
        self,
        piece: np.ndarray,
        label: np.ndarray,
        feature: np.ndarray,
        centroids: np.ndarray,
        allowed: np.ndarray | None = None,
        taboo_grains: int = 8,
    ) -> None:
        self.piece = np.asarray(piece)
        self.label = np.asarray(label)
        self.feature = np.asarray(feature, dtype=np.float32)
        allowed = np.ones(len(self.label), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if not allowed.any():
            raise AntiphonError("the corpus has no grain to play (empty, or every piece excluded)")
        self.allowed = allowed
        num_labels = len(centroids)
        self.by_label = [np.nonzero(allowed & (self.label == k))[0] for k in range(num_labels)]
        # label centroids in raw feature space: mean of each label's grains (codebook centroids are standardised)
        self.centre = np.stack(
            [self.feature[idx].mean(axis=0) if len(idx) else np.zeros(self.feature.shape[1], np.float32) for idx in self.by_label]
        )
        has = np.array([len(idx) > 0 for idx in self.by_label])
        c = np.asarray(centroids, dtype=np.float32)
        dist = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        dist[:, ~has] = np.inf
        self.substitute = np.where(has, np.arange(num_labels), np.argmin(dist, axis=1))
        self.history: deque[int] = deque(maxlen=max(taboo_grains, 0) or 1)
        self.taboo_grains = max(taboo_grains, 0)
        self.last: int | None = None

    @classmethod
    def from_corpus(cls, corpus: Any, exclude_pieces: Sequence[int] = (), taboo_grains: int = 8) -> "GrainSelector":
        """A selector over a loaded corpus's grains, never playing the pieces in ``exclude_pieces``."""
        g = corpus.grains
        allowed = ~np.isin(g.piece, list(exclude_pieces)) if len(exclude_pieces) else None
        return cls(g.piece, g.label, g.feature, corpus.codebook.centroids, allowed=allowed, taboo_grains=taboo_grains)

    def successor(self, grain: int) -> int | None:
        """The grain that follows ``grain`` in its recording, or None at the end of its piece."""
        nxt = grain + 1
        return nxt if nxt < len(self.label) and self.piece[nxt] == self.piece[grain] else None

    def reset(self) -> None:
        self.history.clear()
        self.last = None

    def take_history(self, other: "GrainSelector") -> None:
        """Go on from another selector over the same grains (a model swapped live over the same corpus)."""
        self.history = deque(other.history, maxlen=self.taboo_grains or 1)
        self.last = other.last

    def set_taboo(self, taboo_grains: int) -> None:
        self.taboo_grains = max(int(taboo_grains), 0)
        self.history = deque(self.history, maxlen=self.taboo_grains or 1)

    def choose(self, label: int) -> Choice:
        wanted = int(label)
        playable = int(self.substitute[wanted])
        fallback = playable != wanted
        nxt = self.successor(self.last) if self.last is not None else None
        if nxt is not None and self.allowed[nxt] and self.label[nxt] == playable:
            return self._play(nxt, playable, contiguous=True, fallback=fallback)
        candidates = self.by_label[playable]
        if self.taboo_grains and len(candidates) > len(self.history):
            keep = ~np.isin(candidates, np.fromiter(self.history, dtype=np.int64))
            if keep.any():
                candidates = candidates[keep]
        anchor = self.feature[nxt] if nxt is not None else self.centre[playable]
        d = ((self.feature[candidates] - anchor) ** 2).sum(axis=1)
        return self._play(int(candidates[int(np.argmin(d))]), playable, contiguous=False, fallback=fallback)

    def choose_scored(self, scores: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator, candidates: int = 16) -> Choice:
        """A grain from a listener's score of every grain (logits over the corpus's grains).

        Disallowed and taboo grains are out; the grain is sampled among the ``candidates`` best
        (temperature / top-p; greedy at temperature 0). The continuation of the last grain is
        played instead when its score is within ``CONTINUATION_MARGIN`` of the chosen one's:
        longer runs of the recording sound smoother, and it costs the fit almost nothing.
        """
        s = np.where(self.allowed, np.asarray(scores, dtype=np.float64), -np.inf)
        nxt = self.successor(self.last) if self.last is not None else None
        if self.taboo_grains and self.history:
            s[np.fromiter(self.history, dtype=np.int64)] = -np.inf
        if not np.isfinite(s).any():  # everything taboo: fall back on the allowed grains
            s = np.where(self.allowed, np.asarray(scores, dtype=np.float64), -np.inf)
        k = min(candidates, int(np.isfinite(s).sum()))
        top = np.argpartition(-s, k - 1)[:k]
        grain = int(top[sample_label(s[top], temperature, top_p, rng)])
        if nxt is not None and self.allowed[nxt] and scores[nxt] >= scores[grain] - CONTINUATION_MARGIN:
            return self._play(nxt, int(self.label[nxt]), contiguous=True, fallback=False)
        return self._play(grain, int(self.label[grain]), contiguous=False, fallback=False)

    def _play(self, grain: int, label: int, contiguous: bool, fallback: bool) -> Choice:
        self.last = grain
        if self.taboo_grains:
            self.history.append(grain)
        return Choice(grain=grain, label=label, contiguous=contiguous, fallback=fallback)


def mean_run_length(choices: list[Choice]) -> float:
    """Mean length (in grains) of runs of consecutive corpus grains."""
    if not choices:
        return 0.0
    runs = 1 + sum(0 if c.contiguous else 1 for c in choices[1:])
    return len(choices) / runs
