"""Training end to end on a tiny real corpus: files, resume, DDP with torchrun, and refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.decision.checkpoint import load_model
from agent.decision.config import DecisionConfig
from agent.decision.train import TrainConfig, train
from agent.errors import AntiphonError

from tests.decision.conftest import FAST, TINY


def test_training_writes_a_complete_model_folder(trained: Path) -> None:
    for name in ("config.json", "model.safetensors", "codebook.npy", "codebook_stats.npy", "README.md", "loss.png", "evaluation.json", "evaluation.png"):
        assert (trained / name).is_file(), name
    meta = json.loads((trained / "config.json").read_text())
    assert meta["training"]["epochs_run"] == 2 and meta["training"]["status"] == "done"
    assert meta["training"]["heldout_pieces"] == ["piece2"]
    assert meta["model"]["num_labels"] == 16
    card = (trained / "README.md").read_text()
    assert "antiphon train ..." in card and "| model | free-running |" in card
    bundle = load_model(trained)
    assert bundle.config == DecisionConfig(num_labels=16, **TINY)
    assert not bundle.model.training


def test_resume_continues_where_training_stopped(tone_corpus: Path, tmp_path: Path) -> None:
    cfg = DecisionConfig(num_labels=16, **TINY)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(tone_corpus, straight, cfg, TrainConfig(max_epochs=3, **FAST))
    train(tone_corpus, resumed, cfg, TrainConfig(max_epochs=1, **FAST))
    with pytest.raises(AntiphonError, match="saved run used another train"):
        train(tone_corpus, resumed, cfg, TrainConfig(max_epochs=3, **{**FAST, "batch_size": 5}), resume=True)
    # the number of epochs may grow on resume: only max_epochs differs
    state = json.loads((resumed / "checkpoint" / "state.json").read_text())
    state["train"]["max_epochs"] = 3
    (resumed / "checkpoint" / "state.json").write_text(json.dumps(state))
    train(tone_corpus, resumed, cfg, TrainConfig(max_epochs=3, **FAST), resume=True)
    one = json.loads((straight / "checkpoint" / "state.json").read_text())["history"]
    two = json.loads((resumed / "checkpoint" / "state.json").read_text())["history"]
    assert [h["epoch"] for h in two] == [1, 2, 3]
    for a, b in zip(one, two):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)


def test_existing_folder_and_bad_settings_are_refused(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="already exists"):
        train(tone_corpus, trained, DecisionConfig(num_labels=16, **TINY), TrainConfig(max_epochs=1, **FAST))
    with pytest.raises(AntiphonError, match="nothing to resume"):
        train(tone_corpus, tmp_path / "new", DecisionConfig(num_labels=16, **TINY), TrainConfig(max_epochs=1, **FAST), resume=True)
    with pytest.raises(AntiphonError, match="has 16"):
        train(tone_corpus, tmp_path / "x", DecisionConfig(num_labels=32, **TINY), TrainConfig(max_epochs=1, **FAST))
    with pytest.raises(AntiphonError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.5)


def test_ddp_training_with_two_torchrun_processes(tone_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "agent", "-q", "train", "--kind", "labels", "--corpus", str(tone_corpus), "--out", str(out),
        "--layers", "1", "--width", "32", "--heads", "2", "--ffn-width", "64", "--context-chunks", "16", "--max-epochs", "2",
        "--batch-size", "2", "--crop-chunks", "24",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["processes"] == 2
    assert meta["training"]["epochs_run"] == 2
    load_model(out)
