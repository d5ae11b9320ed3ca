"""What a corpus holds: a text summary and a PNG (label histograms, one piece's label timelines)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.corpus.format import Corpus


@dataclass(frozen=True)
class CorpusSummary:
    pieces: int
    heldout_pieces: int
    duration_s: float
    grains: int
    codebook_size: int
    target_labels_used: int
    source_labels_used: int
    target_entropy_bits: float
    same_label_rate: float
    mean_grain_s: float


def entropy_bits(labels: np.ndarray, size: int) -> float:
    counts = np.bincount(labels, minlength=size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def summarize(corpus: Corpus) -> CorpusSummary:
    g = corpus.grains
    k = corpus.codebook.size
    rate = corpus.audio_rate_hz
    pieces = corpus.manifest["pieces"]
    return CorpusSummary(
        pieces=len(pieces),
        heldout_pieces=sum(1 for p in pieces if p["split"] == "heldout"),
        duration_s=float(sum(p["num_samples"] for p in pieces) / rate),
        grains=len(g),
        codebook_size=k,
        target_labels_used=int(len(np.unique(g.label))),
        source_labels_used=int(len(np.unique(g.source_label))),
        target_entropy_bits=entropy_bits(g.label, k),
        same_label_rate=float(np.mean(g.label == g.source_label)),
        mean_grain_s=float(np.mean(g.end_sample - g.start_sample) / rate),
    )


def format_summary(corpus: Corpus, summary: CorpusSummary) -> str:
    m = corpus.manifest
    chunking = m["chunking"]
    hop = f"hop {chunking['hop_s']} s" if chunking["mode"] == "uniform" else (
        f"onsets, {chunking['min_segment_s']}-{chunking['max_segment_s']} s"
    )
    lines = [
        f"corpus        {corpus.path}",
        f"stems         {m['source_stem']} (performer) -> {m['target_stem']} (answer)",
        f"pieces        {summary.pieces} ({summary.heldout_pieces} held out), "
        f"{summary.duration_s / 60:.1f} min of answer audio at {m['audio_rate_hz']} Hz",
        f"chunking      {chunking['mode']} ({hop}); {summary.grains} grains, mean {summary.mean_grain_s:.3f} s",
        f"perception    {m['perception']['backend']} (dim {m['perception']['dim']}"
        + (f", {m['perception']['checkpoint']}" if m["perception"].get("checkpoint") else "")
        + ")",
        f"codebook      K={summary.codebook_size}; answer uses {summary.target_labels_used} labels "
        f"(entropy {summary.target_entropy_bits:.2f} of {np.log2(summary.codebook_size):.2f} bits), "
        f"performer uses {summary.source_labels_used}",
        f"same label    {100 * summary.same_label_rate:.1f} % of chunks have the same label on both tracks",
    ]
    return "\n".join(lines)


def plot_corpus(corpus: Corpus, out_png: Path, piece: int = 0) -> Path:
    """Label histograms of both tracks and the label timelines of one piece, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = corpus.grains
    k = corpus.codebook.size
    m = corpus.manifest
    fig, (ax_hist, ax_time) = plt.subplots(2, 1, figsize=(11, 7), constrained_layout=True)
    bins = np.arange(k)
    width = 0.42
    ax_hist.bar(bins - width / 2, np.bincount(g.source_label, minlength=k), width, label=f"{m['source_stem']} (performer)")
    ax_hist.bar(bins + width / 2, np.bincount(g.label, minlength=k), width, label=f"{m['target_stem']} (answer)")
    ax_hist.set_xlabel("label")
    ax_hist.set_ylabel("chunks")
    ax_hist.set_title(f"Label histogram, K={k}, {len(g)} chunks per track")
    ax_hist.legend()

    rows = corpus.piece_rows(piece)
    t = g.start_sample[rows] / corpus.audio_rate_hz
    ax_time.step(t, g.source_label[rows], where="post", label=m["source_stem"])
    ax_time.step(t, g.label[rows], where="post", label=m["target_stem"], alpha=0.8)
    ax_time.set_xlabel("time (s)")
    ax_time.set_ylabel("label")
    ax_time.set_title(f"Label timelines of piece '{corpus.piece_names[piece]}'")
    ax_time.legend()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
