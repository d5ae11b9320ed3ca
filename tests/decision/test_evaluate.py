"""Evaluation: metrics and baselines computed right, and the `antiphon evaluate` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from agent.decision.data import step_sequence
from agent.decision.evaluate import TrainingCounts, baseline_predictions, free_running, lcp, score, teacher_forced
from tests.decision.test_model import make_model


def test_lcp() -> None:
    assert lcp(np.array([1, 2, 3, 9]), np.array([1, 2, 3, 4])) == 3
    assert lcp(np.array([0, 2]), np.array([1, 2])) == 0
    assert lcp(np.array([1, 2]), np.array([1, 2])) == 2


def test_baselines_and_accuracy() -> None:
    train = [step_sequence("t", np.array([1, 1, 2, 2, 2]), np.array([5, 5, 7, 7, 7]), 0, 16)]
    counts = TrainingCounts.from_sequences(train, 16)
    assert counts.unigram_label == 7
    assert counts.lookup[1] == 5 and counts.lookup[2] == 7 and counts.lookup[3] == 7  # unseen -> unigram
    seq = step_sequence("h", np.array([1, 2, 5, 5]), np.array([5, 7, 5, 3]), 0, 16)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(baseline_predictions("copy-performer", seq, counts, rng), [1, 2, 5, 5])
    np.testing.assert_array_equal(baseline_predictions("lookup (answer given performer)", seq, counts, rng), [5, 7, 7, 7])
    np.testing.assert_array_equal(baseline_predictions("repeat-previous", seq, counts, rng), [7, 5, 7, 5])
    result = score("x", "free-running", [np.array([5, 7, 7, 7])], [seq], None)
    assert result.accuracy == 0.5 and result.lcp_chunks == 2


def test_free_running_feeds_back_its_own_greedy_choices() -> None:
    model = make_model(seed=4)
    seq = step_sequence("p", np.arange(20) % 16, (np.arange(20) * 5) % 16, 1, 16)
    preds = free_running(model, seq)
    # replaying the model on its own previous outputs teacher-forced gives the same choices
    prev = np.concatenate([[16], preds[:-1]])
    with torch.no_grad():
        again = model(torch.from_numpy(seq.source)[None], torch.from_numpy(prev)[None])[0].argmax(-1).numpy()
    np.testing.assert_array_equal(preds, again)
    assert teacher_forced(model, seq).shape == (19,)


def test_evaluate_command_on_pairs(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-q", "evaluate", "--model", str(trained), "--pairs", str(session_tone_pairs),
         "--source", "melody", "--target", "bass", "--corpus", str(tone_corpus), "--out", str(out), "--compare", str(trained)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "copy-performer" in result.stdout and "the best trivial baseline" in result.stdout
    report = json.loads((out / "evaluation.json").read_text())
    assert report["pieces"] == ["piece2"]
    rows = {(r["method"], r["mode"]): r for r in report["results"]}
    # pairs re-perceived with the model's own perception + codebook give the corpus's labels: same numbers
    card = json.loads((trained / "evaluation.json").read_text())
    card_rows = {(r["method"], r["mode"]): r for r in card["results"]}
    for key in [("model", "free-running"), ("model", "teacher-forced"), ("unigram", "free-running")]:
        assert rows[key]["accuracy"] == card_rows[key]["accuracy"]
    assert rows[("compare:tiny", "free-running")]["accuracy"] == rows[("model", "free-running")]["accuracy"]
    assert (out / "evaluation.png").stat().st_size > 10_000


def test_evaluate_refuses_a_mismatched_corpus(trained: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "evaluate", "--model", str(trained), "--pairs", str(session_tone_pairs),
         "--source", "melody", "--target", "bass", "--corpus", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: corpus folder {tmp_path / 'missing'} does not exist (build one with `antiphon build-corpus`)"]
