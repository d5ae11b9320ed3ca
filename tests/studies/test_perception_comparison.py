"""The measures of `antiphon compare-perception` (the pipeline itself is the pretraining run's job)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.perception.model_card import markdown_table
from agent.studies.perception_comparison import pitch_class_at, purity, verdicts
from agent.perception.pretrain import pretrain
from tests.perception.test_pretrain import SHORT, TINY
from tests.test_cli import run

NOTES = [[0.0, 0.5, 60], [0.5, 0.25, 62], [1.0, 1.0, 71]]


def test_pitch_class_of_the_longest_sounding_note() -> None:
    assert pitch_class_at(NOTES, 0.0, 0.25) == 0
    assert pitch_class_at(NOTES, 0.4, 0.75) == 2  # 0.1 s of C, 0.25 s of D
    assert pitch_class_at(NOTES, 0.75, 1.0) == -1  # a rest
    assert pitch_class_at(NOTES, 1.5, 1.75) == 11


def test_purity_and_majority_floor() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    classes = np.array([5, 5, 7, 9, 9, 5, -1])
    p, majority = purity(labels, classes)
    assert p == (2 + 2 + 1) / 6  # the rest is left out
    assert majority == 3 / 6
    assert purity(np.array([0, 1]), np.array([3, 4]))[0] == 1.0


def test_table_and_verdicts_name_every_backend() -> None:
    figures = {"accuracy_free_running": 0.4, "accuracy_teacher_forced": 0.5, "best_trivial_accuracy": 0.2, "ratio_to_best_trivial": 2.0,
               "source_purity": 0.6, "source_majority": 0.2, "target_purity": 0.5, "target_majority": 0.2, "mean_ms": 4.0, "p99_ms": 6.0}
    results = {"pretrained": figures, "random": {**figures, "source_purity": 0.3, "mean_ms": 4.1}, "dsp": {**figures, "mean_ms": 1.0}}
    table = markdown_table(results)
    assert table.splitlines()[0] == "| measure (held-out pieces) | pretrained | random | dsp |"
    assert "| soprano-label purity vs pitch class | 60.0% | 30.0% | 60.0% |" in table
    notes = "\n".join(verdicts(results))
    assert "random (0.3)" in notes and "dsp (1.00 ms) < pretrained (4.00 ms)" in notes


def test_bad_inputs_are_refused_before_any_work(tone_pairs: Path, tmp_path: Path) -> None:
    done = run("compare-perception", "--pairs", str(tone_pairs), "--perception", str(tmp_path / "missing"), "--work", str(tmp_path / "w"))
    assert done.returncode != 0 and "not a readable architecture file" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    encoder = pretrain(tone_pairs, tmp_path / "enc", TINY, SHORT)
    done = run("compare-perception", "--pairs", str(tone_pairs), "--perception", str(encoder), "--work", str(tmp_path / "w"))
    assert done.returncode != 0 and "have no score.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "w").exists()
