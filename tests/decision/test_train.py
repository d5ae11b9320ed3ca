"""Training end to end on a tiny real corpus: files, resume, DDP with torchrun, and refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.decision.checkpoint import load_model
from agent.decision.config import DecisionConfig, ListenerConfig
from agent.decision.train import TrainConfig, train
from agent.decision.train_listener import train_listener
from agent.errors import AntiphonError

from tests.decision.conftest import FAST, TINY
from tests.test_cli import run


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


def test_force_replaces_only_a_model_folder(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    cfg, fast = DecisionConfig(num_labels=16, **TINY), TrainConfig(max_epochs=1, **FAST)
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    reason = r"holds files but no model \(config.json of format antiphon-decision\): --force replaces only a model folder"
    # no config.json, then a Hugging Face model's config.json: neither is a decision model; both kinds refuse, nothing is deleted
    for config_json in (None, '{"model_type": "wav2vec2"}'):
        if config_json is not None:
            (out / "config.json").write_text(config_json)
        with pytest.raises(AntiphonError, match=reason):
            train(tone_corpus, out, cfg, fast, force=True)
        with pytest.raises(AntiphonError, match=reason):
            train_listener(tone_corpus, out, ListenerConfig(num_labels=16), fast, force=True)
        assert (out / "notes.txt").read_text() == "x"
    done = run("train", "--kind", "labels", "--corpus", str(tone_corpus), "--out", str(out), "--force")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: {out} holds files but no model (config.json of format antiphon-decision): --force replaces only a model folder (move or delete it yourself)"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]
    # a model folder is replaced, whole
    own = tmp_path / "own"
    shutil.copytree(trained, own)
    (own / "stale.txt").write_text("old")
    train(tone_corpus, own, cfg, fast, force=True)
    assert not (own / "stale.txt").exists()
    assert json.loads((own / "config.json").read_text())["training"]["epochs_run"] == 1


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
    # --force over the model folder: every rank checks it before rank 0 empties it
    result = subprocess.run([*cmd[: cmd.index("--max-epochs")], "--max-epochs", "1", *cmd[cmd.index("--max-epochs") + 2 :], "--force"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["training"]["epochs_run"] == 1
    load_model(out)
