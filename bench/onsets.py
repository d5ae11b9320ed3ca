"""Onset chunker accuracy against the demo scores: precision/recall of boundaries within a tolerance.

    python bench/onsets.py [--pairs corpora/demo-pairs] [--pieces 12] [--tolerance-s 0.05]

Needs a demo pairs folder (`antiphon make-demo-pairs`); score.json holds the true note onsets.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from agent import paths
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.chunking import ChunkingConfig, chunk_signal
from agent.demo.chorales import STEMS

log = logging.getLogger("bench.onsets")


def match_rate(a: np.ndarray, b: np.ndarray, tolerance_s: float) -> float:
    """Fraction of times in ``a`` with a time of ``b`` within the tolerance."""
    if len(a) == 0:
        return 1.0
    if len(b) == 0:
        return 0.0
    return float((np.abs(a[:, None] - b[None, :]).min(axis=1) <= tolerance_s).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(paths.DEMO_PAIRS_DIR))
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--tolerance-s", type=float, default=0.05)
    parser.add_argument("--sensitivity", type=float, default=ChunkingConfig().onset_sensitivity)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = ChunkingConfig(mode="onset", min_segment_s=0.1, max_segment_s=4.0, onset_sensitivity=args.sensitivity)
    folders = sorted(p.parent for p in Path(args.pairs).glob("*/score.json"))[: args.pieces]
    if not folders:
        raise SystemExit(f"no demo pieces with score.json under {args.pairs}: run `antiphon make-demo-pairs` first")
    precision, recall = {s: [] for s in STEMS}, {s: [] for s in STEMS}
    for folder in folders:
        score = json.loads((folder / "score.json").read_text())
        for stem in STEMS:
            audio, _ = read_mono(folder / f"{stem}.flac", PERCEPTION_RATE_HZ)
            truth = np.unique([n[0] for n in score["notes"][stem]])
            cuts = np.array([c.start for c in chunk_signal(audio, config)[1:]]) / PERCEPTION_RATE_HZ
            precision[stem].append(match_rate(cuts, truth, args.tolerance_s))
            recall[stem].append(match_rate(truth, cuts, args.tolerance_s))
    log.info("onset boundaries vs score onsets, %d pieces, tolerance %.0f ms, sensitivity %.2f", len(folders), 1000 * args.tolerance_s, args.sensitivity)
    log.info("%-8s %9s %7s", "voice", "precision", "recall")
    for stem in STEMS:
        log.info("%-8s %9.3f %7.3f", stem, np.mean(precision[stem]), np.mean(recall[stem]))
    all_p = np.mean([v for s in STEMS for v in precision[s]])
    all_r = np.mean([v for s in STEMS for v in recall[s]])
    log.info("%-8s %9.3f %7.3f   F1 %.3f", "all", all_p, all_r, 2 * all_p * all_r / (all_p + all_r))


if __name__ == "__main__":
    main()
