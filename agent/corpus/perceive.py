"""Perceiving one piece of a pairs folder: chunk the source track, cut both tracks at those bounds,
and compute the features of every chunk of both. Shared by corpus building and evaluation, so a
pairs folder is seen exactly the same way by both."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from agent.audio_augment import augment, piece_rng
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


def source_hearing(seed: int, name: str, share: float) -> Callable[[np.ndarray], np.ndarray] | None:
    """How one piece's source reaches the agent: through a random room, EQ, noise and gain
    (``agent.audio_augment``) for a seeded ``share`` of the pieces (the same pieces and chains for
    the same seed and names, whatever their order), else as recorded (None)."""
    if share <= 0.0:
        return None
    rng = piece_rng(seed, name)
    if rng.random() >= share:
        return None
    return lambda x: augment(x, PERCEPTION_RATE_HZ, rng)


def perceive_pair(
    piece: Piece,
    source: str,
    target: str,
    chunking: ChunkingConfig,
    perception: PerceptionBackend,
    length_tolerance_s: float = DEFAULT_LENGTH_TOLERANCE_S,
    hear_source: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PerceivedPair | None:
    """Features of every chunk of both tracks; None (with a warning) if shorter than one chunk.
    ``hear_source``: how the source reaches the agent (e.g. through a room and a microphone,
    ``agent.audio_augment``); it is chunked and perceived as heard, and ``pair`` keeps it clean."""
    pair = load_pair(piece, source, target, PERCEPTION_RATE_HZ, length_tolerance_s)
    heard = pair.source if hear_source is None else hear_source(pair.source)
    chunks = chunk_signal(heard, chunking)
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
