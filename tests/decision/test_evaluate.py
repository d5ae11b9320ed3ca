"""Evaluation: metrics and baselines computed right, and the `antiphon evaluate` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.corpus.format import load_corpus
from agent.decision.checkpoint import save_model
from agent.decision.config import DecisionConfig
from agent.decision.data import step_sequence
from agent.decision.evaluate import (TrainingCounts, MethodResult, baseline_predictions, best_trivial, free_running, lcp, score,
                                     teacher_forced)
from agent.decision.model import DecisionModel
from agent.playback.grain_selection import GrainSelector
from tests.decision.conftest import TINY
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


def constant_model(corpus_dir: Path, out: Path, label: int) -> Path:
    """A label model that always answers ``label`` (zero output weights, one large bias), saved as a real model folder."""
    model = DecisionModel(DecisionConfig(num_labels=16, **TINY))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-10.0)
        model.head.bias[label] = 10.0
    save_model(out, model, load_corpus(corpus_dir, with_audio=False), {"status": "done", "note": f"always {label}"})
    return out


def test_evaluate_command_against_hand_computed_figures(tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    # the held-out piece's labels as the corpus holds them (the pairs re-perceived with the model's perception
    # and codebook give the same): step t's target is the answer label of chunk t + 1 (anticipation 1)
    corpus = load_corpus(tone_corpus, with_audio=False)
    g = corpus.grains
    labels = {name: g.label[corpus.piece_rows(i)] for i, name in enumerate(corpus.piece_names)}
    target = labels["piece2"][1:]
    performer = g.source_label[corpus.piece_rows(2)][:-1]
    counts = np.bincount(target, minlength=16)
    a = int(np.argmax(counts))  # the model always answers a, the compared model always b: different figures
    b = int(next(k for k in np.argsort(-counts, kind="stable") if 0 < counts[k] < counts[a]))
    model, other = constant_model(tone_corpus, tmp_path / "const-a", a), constant_model(tone_corpus, tmp_path / "const-b", b)
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-q", "evaluate", "--model", str(model), "--pairs", str(session_tone_pairs),
         "--source", "melody", "--target", "bass", "--corpus", str(tone_corpus), "--out", str(out), "--compare", str(other)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "evaluation.json").read_text())
    assert report["pieces"] == ["piece2"] and report["per_piece_steps"] == [len(target)]
    rows = {(r["method"], r["mode"]): r for r in report["results"]}
    first_miss = {k: int(np.argmax(target != k)) if np.any(target != k) else len(target) for k in (a, b)}
    for method, label in (("model", a), ("compare:const-b", b)):
        for mode in ("free-running", "teacher-forced"):
            row = rows[(method, mode)]
            assert row["accuracy"] == pytest.approx(counts[label] / len(target), abs=5e-5), (method, mode, row)
            assert row["lcp_chunks"] == pytest.approx(first_miss[label], abs=5e-3), (method, mode, row)
    # the trivial baselines, counted here from the corpus: unigram = the most frequent answer label of the training pieces
    unigram = int(np.argmax(np.bincount(np.concatenate([labels["piece0"][1:], labels["piece1"][1:]]), minlength=16)))
    assert rows[("unigram", "free-running")]["accuracy"] == pytest.approx(np.mean(target == unigram), abs=5e-5)
    assert rows[("copy-performer", "free-running")]["accuracy"] == pytest.approx(np.mean(performer == target), abs=5e-5)
    trivial = max((r for r in report["results"] if r["method"] in ("random", "unigram", "copy-performer")), key=lambda r: r["accuracy"])
    ratio = re.search(r"free-running accuracy ([\d.]+) % = ([\d.]+)x the best trivial baseline \((.+?), ([\d.]+) %\)", result.stdout)
    assert ratio is not None, result.stdout
    assert float(ratio.group(1)) == pytest.approx(100 * counts[a] / len(target), abs=0.051) and ratio.group(3) == trivial["method"]
    assert (out / "evaluation.png").stat().st_size > 10_000


def test_evaluate_refuses_a_mismatched_corpus(trained: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "evaluate", "--model", str(trained), "--pairs", str(session_tone_pairs),
         "--source", "melody", "--target", "bass", "--corpus", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: corpus folder {tmp_path / 'missing'} does not exist (build one with `antiphon build-corpus`)"]


def test_random_baseline_is_uniform_and_seeded() -> None:
    counts = TrainingCounts(num_labels=4, unigram_label=0, lookup=np.zeros(4, dtype=np.int64))
    seq = step_sequence("h", np.zeros(8001, np.int64), np.zeros(8001, np.int64), 1, 4)  # every target is 0
    preds = baseline_predictions("random", seq, counts, np.random.default_rng(0))
    shares = np.bincount(preds, minlength=4) / len(preds)
    assert set(np.unique(preds)) == {0, 1, 2, 3} and np.all(np.abs(shares - 0.25) < 0.025), shares  # 5 sigma at n = 8000
    assert score("random", "free-running", [preds], [seq], None).accuracy == pytest.approx(0.25, abs=0.025)
    again = baseline_predictions("random", seq, counts, np.random.default_rng(0))
    other = baseline_predictions("random", seq, counts, np.random.default_rng(1))
    assert np.array_equal(preds, again) and not np.array_equal(preds, other)


def test_unigram_counts_chunks_over_all_training_pieces() -> None:
    # the answer's labels after the first (step t's target is label t + 1): piece a six 3s; b four 1s and a 2; c a 1 and a 2.
    # Pooled, 3 is the most frequent (6 against 5 and 2); a vote of the pieces would say 1.
    train = [step_sequence("a", np.zeros(7, np.int64), np.array([9, 3, 3, 3, 3, 3, 3]), 1, 16),
             step_sequence("b", np.zeros(6, np.int64), np.array([9, 1, 1, 1, 1, 2]), 1, 16),
             step_sequence("c", np.zeros(3, np.int64), np.array([9, 1, 2]), 1, 16)]
    counts = TrainingCounts.from_sequences(train, 16)
    assert counts.unigram_label == 3
    held = step_sequence("h", np.zeros(5, np.int64), np.array([0, 3, 1, 3, 0]), 1, 16)
    preds = baseline_predictions("unigram", held, counts, np.random.default_rng(0))
    assert preds.tolist() == [3, 3, 3, 3]
    assert score("unigram", "free-running", [preds], [held], None).accuracy == 0.5


def test_accuracy_weighs_pieces_by_their_chunks() -> None:
    short = step_sequence("short", np.zeros(3, np.int64), np.array([0, 1, 1]), 1, 16)  # targets [1, 1]
    long = step_sequence("long", np.zeros(9, np.int64), np.array([0, 2, 2, 2, 2, 2, 2, 2, 2]), 1, 16)  # eight 2s
    preds = [np.array([1, 1]), np.array([2, 5, 5, 5, 5, 5, 5, 2])]
    result = score("m", "free-running", preds, [short, long], None)
    assert result.accuracy == pytest.approx(4 / 10)  # 2 + 2 hits in 10 chunks, not the mean of 100 % and 25 %
    assert result.per_piece_accuracy == [1.0, 0.25]
    assert result.lcp_chunks == pytest.approx((2 + 1) / 2)


def test_best_trivial_is_the_best_of_random_unigram_and_copy_performer() -> None:
    def row(method: str, accuracy: float, mode: str = "free-running") -> MethodResult:
        return MethodResult(method, mode, accuracy, [accuracy], 0.0)

    results = [row("model", 0.9), row("model", 0.95, "teacher-forced"), row("compare:x", 0.97), row("random", 0.1), row("unigram", 0.3),
               row("copy-performer", 0.2), row("lookup (answer given performer)", 0.8), row("repeat-previous", 0.6, "teacher-forced")]
    assert best_trivial(results).method == "unigram"
    results[5] = row("copy-performer", 0.31)
    assert best_trivial(results).method == "copy-performer"


def test_grain_run_and_fallback_rate_of_played_labels() -> None:
    # two pieces of four grains; feature = the grain's index; label 3 has no grain (its codebook centroid is nearest label 2's)
    selector = GrainSelector(piece=np.array([0, 0, 0, 0, 1, 1, 1, 1]), label=np.array([0, 1, 2, 0, 1, 2, 0, 1]),
                             feature=np.arange(8, dtype=np.float32)[:, None], centroids=np.array([[0.0], [1.0], [2.0], [2.9]], np.float32))
    first = step_sequence("first", np.zeros(6, np.int64), np.zeros(6, np.int64), 1, 16)
    second = step_sequence("second", np.zeros(3, np.int64), np.zeros(3, np.int64), 1, 16)
    # first: 0 -> grain 3 (label 0's grains 0, 3, 6 centre on 3); 1 -> 4 (3 ends its piece; label 1's centre 4);
    #   2 -> 5 and 0 -> 6 (continuations); 3 -> label 2, a fallback: 7 is label 1; of label 2's grains 2 and 5, 5 is nearer
    #   7's feature, and the taboo does not rule it out (it applies only with more candidates than the 4 grains played). Runs [3] [4 5 6] [5].
    # second (the selector starts afresh): 1 -> 4; 1 -> 7 (5 is label 2; of 1 and 7, 7 is nearer 5's feature). Runs [4] [7].
    result = score("m", "free-running", [np.array([0, 1, 2, 0, 3]), np.array([1, 1])], [first, second], selector)
    assert result.grain_run == pytest.approx((5 / 3 + 2 / 2) / 2)  # mean over pieces of chunks per run
    assert result.fallback_rate == pytest.approx(1 / 7)  # over all chunks
