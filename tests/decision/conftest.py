"""Settings of the tiny decision models the tests train (the trained label model lives in
tests/conftest.py), and the related pairs with a listener trained on them (shared by the listener's
tests and the label head's)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.decision.config import ListenerConfig
from tests.conftest import note_train


TINY = dict(num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=16, dropout=0.0)
FAST = dict(batch_size=4, crop_chunks=24, warmup_steps=2, patience_epochs=50)


def write_related_pairs(root: Path, pieces: int = 10, seconds: float = 16.0) -> Path:
    """'melody' random notes of 0.75 s; 'bass' the same notes 19 semitones lower. Two held out."""
    names = []
    for i in range(pieces):
        rng = np.random.default_rng(300 + i)
        notes = list(rng.integers(64, 80, int(seconds / 0.75)))
        folder = root / f"song{i}"
        folder.mkdir(parents=True)
        sf.write(folder / "melody.flac", note_train(16_000, notes, 0.75, seed=i), 16_000)
        sf.write(folder / "bass.flac", note_train(16_000, [n - 19 for n in notes], 0.75, seed=50 + i), 16_000)
        names.append(folder.name)
    (root / "split.json").write_text(json.dumps({"heldout": names[-2:]}))
    return root


@pytest.fixture(scope="session")
def related(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(pairs, corpus, trained listener): DSP features (they carry chroma), K=16, hop 0.25 s; every
    training grain scored at each step (no sampled candidates)."""
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.decision.config import TrainConfig
    from agent.decision.train_listener import train_listener

    base = tmp_path_factory.mktemp("related")
    pairs = write_related_pairs(base / "pairs")
    corpus = build_corpus(pairs, base / "corpus", CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16, seed=0))
    model_config = ListenerConfig(feature_dim=120, num_labels=16, num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=8, dropout=0.0, key_dim=16)
    out = train_listener(corpus, base / "listener", model_config, TrainConfig(max_epochs=25, batch_size=4, crop_chunks=32, warmup_steps=5, patience_epochs=25, learning_rate=3e-3, negatives=0), command="test")
    return pairs, corpus, out
