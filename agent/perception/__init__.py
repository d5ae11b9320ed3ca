"""Perception: one feature vector per chunk of 16 kHz mono audio.

Every backend has the same interface (``PerceptionBackend``) and processes each chunk on its own,
so a chunk gives the same vector live and offline. ``load_perception(config)`` builds one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.errors import AntiphonError

BACKENDS = ("dsp", "wav2vec2")


@dataclass(frozen=True)
class PerceptionConfig:
    """Which perception backend to use.

    ``checkpoint``: for ``wav2vec2``, a local folder saved with ``save_pretrained`` (a hub id is
    refused: nothing is downloaded). ``layer``: index into the hidden states (0 = input of the first
    Transformer layer, -1 = last layer).
    """

    backend: str = "dsp"
    checkpoint: str | None = None
    layer: int = -1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise AntiphonError(f"perception backend must be one of {BACKENDS}, got '{self.backend}'")
        if self.backend == "wav2vec2" and not self.checkpoint:
            raise AntiphonError("the wav2vec2 perception backend needs a checkpoint folder")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PerceptionBackend(Protocol):
    """What every perception backend offers."""

    name: str
    dim: int
    sample_rate_hz: int

    def identity(self) -> dict[str, Any]:
        """What a corpus manifest records to know these features again (backend, hash, layer)."""

    def features(self, chunk: np.ndarray) -> np.ndarray:
        """float32 [dim] vector for one chunk of mono audio at ``sample_rate_hz``."""

    def features_batch(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [n, dim]; row i equals ``features(chunks[i])`` up to float rounding."""


def resolve_checkpoint(checkpoint: str) -> str:
    """A relative checkpoint folder that is not under the working directory but under the repository
    (``models/antiphon-w2v2-small``, as shipped corpora and models record it) resolves there."""
    from agent.paths import REPO_ROOT

    path = Path(checkpoint)
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        return str(REPO_ROOT / path)
    return checkpoint


def load_perception(config: PerceptionConfig) -> PerceptionBackend:
    if config.backend == "dsp":
        from agent.perception.dsp import DspPerception

        return DspPerception()
    from agent.perception.wav2vec2 import Wav2Vec2Perception

    backend = Wav2Vec2Perception.load(resolve_checkpoint(str(config.checkpoint)), layer=config.layer)
    backend.checkpoint = str(config.checkpoint)  # recorded as given: a repository-relative path stays portable
    return backend


__all__ = ["BACKENDS", "PERCEPTION_RATE_HZ", "PerceptionBackend", "PerceptionConfig", "load_perception"]
