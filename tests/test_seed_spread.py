"""bench/seed_spread.py on evaluation reports with known figures: the table, the pooled ratio over
works, the card section it writes, and the evaluations it refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "seed_spread.py"
LOOKUP = "lookup (answer given performer)"


def write_eval(folder: Path, pieces: list[str], model: list[float], lookup: list[float], steps: list[int], pairs: str = "corpora/x-pairs") -> Path:
    folder.mkdir(parents=True)
    def row(method: str, per_piece: list[float]) -> dict:
        return {"method": method, "mode": "free-running", "accuracy": float(np.average(per_piece, weights=steps)), "per_piece_accuracy": per_piece}
    report = {"model": str(folder), "pairs": pairs, "pieces": pieces, "per_piece_steps": steps,
              "results": [row("model", model), row(LOOKUP, lookup)]}
    (folder / "evaluation.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=SCRIPT.parents[1])


def test_pooled_ratio_over_works_goes_into_its_own_card_section(tmp_path: Path) -> None:
    pieces = ["001-a", "001-a@1", "002-b", "002-b@1", "003-c", "003-c@1"]
    steps = [100, 100, 200, 200, 50, 50]
    lookup = [0.2] * 6
    folders = [write_eval(tmp_path / f"seed{s}", pieces, [0.3, 0.3, 0.2, 0.2, 0.4, 0.4], lookup, steps) for s in range(3)]
    card = tmp_path / "model"
    card.mkdir()
    (card / "README.md").write_text("# Listener\n\n## Seeds (held-out, mean and spread)\n\nclean table\n", encoding="utf-8")
    done = run(*folders, "--works", "--card", card, "--update-card")
    assert done.returncode == 0, done.stderr
    hits = np.dot([0.3, 0.3, 0.2, 0.2, 0.4, 0.4], steps)
    assert f"**{hits / np.dot(lookup, steps):.3f}x**" in done.stdout
    assert "3 works, every rendering of a drawn work together" in done.stdout
    text = (card / "README.md").read_text(encoding="utf-8")
    assert "## Seeds on the training corpus's held-out works (labels)" in text and "clean table" in text
    assert "--pairs corpora/x-pairs --no-listening" in text


def test_evaluations_on_other_pieces_or_with_listening_are_refused(tmp_path: Path) -> None:
    a = write_eval(tmp_path / "a", ["001-a", "002-b"], [0.3, 0.2], [0.2, 0.2], [10, 10])
    b = write_eval(tmp_path / "b", ["001-a", "003-c"], [0.3, 0.2], [0.2, 0.2], [10, 10])
    done = run(a, b)
    assert done.returncode == 2 and "not on the same held-out pieces" in done.stderr
    report = json.loads((b / "evaluation.json").read_text(encoding="utf-8"))
    report["pieces"] = ["001-a", "002-b"]
    report["listening"] = {"answers": {}}
    (b / "evaluation.json").write_text(json.dumps(report), encoding="utf-8")
    card = tmp_path / "card"
    card.mkdir()
    done = run(a, b, "--works", "--card", card, "--update-card")
    assert done.returncode == 2 and "label-only" in done.stderr
    assert not (card / "README.md").exists()
    done = run(a, b, "--works", "--room")
    assert done.returncode == 2 and "one of them" in done.stderr
