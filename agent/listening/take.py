"""A held-out take: what the listening metrics compare an answer with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Take:
    """A held-out piece as the listening metrics need it (audio at 16 kHz)."""

    name: str
    performer: np.ndarray
    answer: np.ndarray  # the true answer track
    bounds: np.ndarray  # [n, 2] chunk start/end samples at 16 kHz
    source_features: np.ndarray  # [n, D]
    target_features: np.ndarray  # [n, D]
