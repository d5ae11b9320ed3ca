"""Evaluating a decision model on held-out pieces, against trivial baselines.

Metrics per method (on the same held-out label sequences):
- ``accuracy``: per-chunk label accuracy against the true answer track (micro-average), and per piece;
- ``lcp``: longest common prefix with the true answer, in chunks (mean over pieces);
- ``run``: mean run of consecutive corpus grains when the predicted labels are played through the
  grain selector, with every evaluated piece's own grains excluded from the memory;
- ``fallback``: share of chunks whose label had no grain (the selector never plays silence).

Teacher-forced: the model's "previous answer" input is the true one. Free-running: it is the
model's own previous (greedy) prediction, as live. Baselines: random label, unigram (most frequent
answer label in training), copy the performer's label, and a lookup table of the most frequent
answer label given the performer's label (training counts); teacher-forced also "repeat the
previous true answer label".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.decision.data import StepSequence
from agent.decision.model import DecisionModel
from agent.playback.grain_selection import GrainSelector, mean_run_length

log = logging.getLogger(__name__)

TRIVIAL_BASELINES = ("random", "unigram", "copy-performer")


@dataclass
class MethodResult:
    method: str
    mode: str  # "free-running" or "teacher-forced"
    accuracy: float
    per_piece_accuracy: list[float]
    lcp_chunks: float
    grain_run: float | None = None
    fallback_rate: float | None = None
    predictions: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "mode": self.mode,
            "accuracy": round(self.accuracy, 4),
            "per_piece_accuracy": [round(a, 4) for a in self.per_piece_accuracy],
            "lcp_chunks": round(self.lcp_chunks, 2),
            "grain_run": None if self.grain_run is None else round(self.grain_run, 3),
            "fallback_rate": None if self.fallback_rate is None else round(self.fallback_rate, 4),
        }


@torch.no_grad()
def teacher_forced(model: DecisionModel, seq: StepSequence) -> np.ndarray:
    model.eval()
    logits = model(torch.from_numpy(seq.source)[None], torch.from_numpy(seq.answer_prev)[None])[0]
    return logits.argmax(-1).numpy()


@torch.inference_mode()
def free_running(model: DecisionModel, seq: StepSequence) -> np.ndarray:
    """Greedy decoding, one step per chunk through the KV-cache step API, feeding back its own labels."""
    model.eval()
    state = model.initial_state(1)
    prev = model.config.start_token
    out = np.empty(len(seq), dtype=np.int64)
    for t in range(len(seq)):
        logits, state = model.step(state, int(seq.source[t]), prev)
        prev = int(logits[0].argmax())
        out[t] = prev
    return out


def lcp(pred: np.ndarray, true: np.ndarray) -> int:
    wrong = np.nonzero(pred != true)[0]
    return int(wrong[0]) if len(wrong) else int(len(true))


@dataclass(frozen=True)
class TrainingCounts:
    """What the trivial baselines learn from the training pieces."""

    num_labels: int
    unigram_label: int
    lookup: np.ndarray  # [num_labels] most frequent answer target given the performer's label

    @classmethod
    def from_sequences(cls, sequences: list[StepSequence], num_labels: int) -> "TrainingCounts":
        targets = np.concatenate([s.target for s in sequences])
        sources = np.concatenate([s.source for s in sequences])
        unigram = int(np.bincount(targets, minlength=num_labels).argmax())
        table = np.zeros((num_labels, num_labels), dtype=np.int64)
        np.add.at(table, (sources, targets), 1)
        lookup = np.where(table.sum(1) > 0, table.argmax(1), unigram)
        return cls(num_labels=num_labels, unigram_label=unigram, lookup=lookup)


def baseline_predictions(name: str, seq: StepSequence, counts: TrainingCounts, rng: np.random.Generator) -> np.ndarray:
    n = len(seq)
    if name == "random":
        return rng.integers(0, counts.num_labels, n)
    if name == "unigram":
        return np.full(n, counts.unigram_label, dtype=np.int64)
    if name == "copy-performer":
        return seq.source.copy()
    if name == "lookup (answer given performer)":
        return counts.lookup[seq.source]
    if name == "repeat-previous":
        prev = seq.answer_prev.copy()
        prev[prev >= counts.num_labels] = counts.unigram_label
        return prev
    raise ValueError(f"unknown baseline {name}")


def score(method: str, mode: str, preds: list[np.ndarray], sequences: list[StepSequence], selector: GrainSelector | None) -> MethodResult:
    hits = sum(int(np.sum(p == s.target)) for p, s in zip(preds, sequences))
    total = sum(len(s) for s in sequences)
    result = MethodResult(
        method=method,
        mode=mode,
        accuracy=hits / max(total, 1),
        per_piece_accuracy=[float(np.mean(p == s.target)) if len(s) else 0.0 for p, s in zip(preds, sequences)],
        lcp_chunks=float(np.mean([lcp(p, s.target) for p, s in zip(preds, sequences)])),
        predictions=preds,
    )
    if selector is not None:
        runs, fallbacks, chunks = [], 0, 0
        for p in preds:
            selector.reset()
            choices = [selector.choose(int(label)) for label in p]
            runs.append(mean_run_length(choices))
            fallbacks += sum(c.fallback for c in choices)
            chunks += len(choices)
        result.grain_run = float(np.mean(runs))
        result.fallback_rate = fallbacks / max(chunks, 1)
    return result


def evaluate(
    model: DecisionModel,
    sequences: list[StepSequence],
    counts: TrainingCounts,
    selector: GrainSelector | None = None,
    seed: int = 0,
    extra_models: dict[str, tuple[DecisionModel, list[StepSequence]]] | None = None,
    model_predictions: list[np.ndarray] | None = None,
) -> list[MethodResult]:
    """Every method on ``sequences``; model rows first. ``extra_models``: name -> (model, its own sequences).

    ``model_predictions``: the model's labels made elsewhere (a listener, which has no feedback
    input: free-running and teacher-forced are the same thing, so only the free-running row).
    """
    rng = np.random.default_rng(seed)
    if model_predictions is not None:
        results = [score("model", "free-running", model_predictions, sequences, None)]
    else:
        results = [
            score("model", "free-running", [free_running(model, s) for s in sequences], sequences, selector),
            score("model", "teacher-forced", [teacher_forced(model, s) for s in sequences], sequences, None),
        ]
    for name, (other, other_seqs) in (extra_models or {}).items():
        results.append(score(name, "free-running", [free_running(other, s) for s in other_seqs], other_seqs, None))
        results.append(score(name, "teacher-forced", [teacher_forced(other, s) for s in other_seqs], other_seqs, None))
    for name in (*TRIVIAL_BASELINES, "lookup (answer given performer)"):
        results.append(score(name, "free-running", [baseline_predictions(name, s, counts, rng) for s in sequences], sequences, selector))
    results.append(score("repeat-previous", "teacher-forced", [baseline_predictions("repeat-previous", s, counts, rng) for s in sequences], sequences, None))
    return results


def best_trivial(results: list[MethodResult]) -> MethodResult:
    return max((r for r in results if r.method in TRIVIAL_BASELINES), key=lambda r: r.accuracy)


def format_table(results: list[MethodResult]) -> str:
    lines = [
        f"{'method':<32} {'mode':<15} {'accuracy':>8} {'lcp':>6} {'grain run':>9} {'fallback':>8}",
        "-" * 83,
    ]
    for r in results:
        run = "-" if r.grain_run is None else f"{r.grain_run:.2f}"
        fb = "-" if r.fallback_rate is None else f"{100 * r.fallback_rate:.1f}%"
        lines.append(f"{r.method:<32} {r.mode:<15} {100 * r.accuracy:7.1f}% {r.lcp_chunks:6.1f} {run:>9} {fb:>8}")
    return "\n".join(lines)


def markdown_table(results: list[MethodResult]) -> str:
    lines = ["| method | mode | accuracy | LCP (chunks) | grain run | fallback |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        run = "-" if r.grain_run is None else f"{r.grain_run:.2f}"
        fb = "-" if r.fallback_rate is None else f"{100 * r.fallback_rate:.1f} %"
        lines.append(f"| {r.method} | {r.mode} | {100 * r.accuracy:.1f} % | {r.lcp_chunks:.1f} | {run} | {fb} |")
    return "\n".join(lines)


def write_report(results: list[MethodResult], sequences: list[StepSequence], num_labels: int, out_dir: Path, extra: dict[str, Any]) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.png`` (accuracy per piece; confusion of the free-running model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    json_path.write_text(
        json.dumps({**extra, "pieces": [s.name for s in sequences], "per_piece_steps": [len(s) for s in sequences],
                    "results": [r.to_dict() for r in results]}, indent=2) + "\n",
        encoding="utf-8",
    )
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    x = np.arange(len(sequences))
    shown = [r for r in results if r.method == "model" or r.method in TRIVIAL_BASELINES or r.method.startswith("lookup")]
    width = 0.8 / max(len(shown), 1)
    for i, r in enumerate(shown):
        ax1.bar(x + i * width, 100 * np.asarray(r.per_piece_accuracy), width, label=f"{r.method} ({r.mode})")
    ax1.set_xticks(x + 0.4 - width / 2, [s.name for s in sequences], rotation=60, ha="right", fontsize=7)
    ax1.set_ylabel("per-chunk accuracy (%)")
    ax1.set_title("held-out accuracy per piece")
    ax1.legend(fontsize=7)
    model_fr = next(r for r in results if r.method == "model" and r.mode == "free-running")
    confusion = np.zeros((num_labels, num_labels))
    for p, s in zip(model_fr.predictions, sequences):
        np.add.at(confusion, (s.target, p), 1)
    confusion /= np.maximum(confusion.sum(1, keepdims=True), 1)
    im = ax2.imshow(confusion, cmap="viridis", vmin=0, vmax=1, origin="lower")
    ax2.set_xlabel("predicted label (free-running)")
    ax2.set_ylabel("true answer label")
    ax2.set_title("confusion (rows normalised)")
    fig.colorbar(im, ax=ax2, fraction=0.046)
    fig.tight_layout()
    png_path = out_dir / "evaluation.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return json_path, png_path
