"""Fixtures of the decision-model tests: one tiny model trained on the tone corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.decision.config import DecisionConfig
from agent.decision.train import TrainConfig, train

TINY = dict(num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=16, dropout=0.0)
FAST = dict(batch_size=4, crop_chunks=24, warmup_steps=2, patience_epochs=50)


@pytest.fixture(scope="session")
def trained(tone_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    train(tone_corpus, out, DecisionConfig(num_labels=16, **TINY), TrainConfig(max_epochs=2, **FAST), command="antiphon train ...")
    return out


