"""Perceiving one piece of a pairs folder: chunk the source track, cut both tracks at those bounds,
and compute the features of every chunk of both. Shared by corpus building and evaluation, so a
pairs folder is seen exactly the same way by both."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.chunking import ChunkingConfig, chunk_signal
from agent.pairs import DEFAULT_LENGTH_TOLERANCE_S, PairAudio, Piece, load_pair
from agent.perception import PerceptionBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerceivedPair:
    pair: PairAudio  # both tracks at the perception rate
    bounds: np.ndarray  # [n, 2] chunk start/end samples at the perception rate (cut on the source)
    source_features: np.ndarray  # [n, D]
    target_features: np.ndarray  # [n, D]


def perceive_pair(
    piece: Piece,
    source: str,
    target: str,
    chunking: ChunkingConfig,
    perception: PerceptionBackend,
    length_tolerance_s: float = DEFAULT_LENGTH_TOLERANCE_S,
) -> PerceivedPair | None:
    """Features of every chunk of both tracks; None (with a warning) if shorter than one chunk."""
    pair = load_pair(piece, source, target, PERCEPTION_RATE_HZ, length_tolerance_s)
    chunks = chunk_signal(pair.source, chunking)
    if not chunks:
        log.warning("piece '%s' is shorter than one chunk; skipped", piece.name)
        return None
    bounds = np.array([(c.start, c.end) for c in chunks], dtype=np.int64)
    return PerceivedPair(
        pair=pair,
        bounds=bounds,
        source_features=perception.features_batch([c.samples for c in chunks]),
        target_features=perception.features_batch([pair.target[s:e] for s, e in bounds]),
    )
