"""Mean and spread over seeds of a model's held-out figures (no seed is picked by them).

    .venv/bin/python bench/seed_spread.py MODEL_DIR EVAL_DIR [EVAL_DIR ...] [--update-card]
    .venv/bin/python bench/seed_spread.py HEARD_DIR HEARD_DIR ... --room --card MODEL_DIR --update-card
    .venv/bin/python bench/seed_spread.py WORKS_DIR WORKS_DIR ... --works --card MODEL_DIR --update-card

Each folder holds an ``evaluation.json`` written by ``antiphon evaluate`` (MODEL_DIR: the shipped
seed's). Prints label accuracy, its ratio to the lookup-table baseline, and the listening
figures per seed with their mean and standard deviation, then the label-accuracy ratio pooled over
seeds and pieces with its 95 % bootstrap interval over the held-out pieces (every seed is scored
on the same pieces, so the seeds' spread does not show that uncertainty; agent/piece_bootstrap.py);
``--update-card`` writes the table and that line into
MODEL_DIR/README.md. ``--room``: the folders are evaluations with ``--augment-performer`` (the
performers heard through a room); the table goes into its own section of ``--card``'s README.md.
``--works``: the folders are label-only evaluations (``--no-listening``) on the held-out works of
the training corpus's pairs (many more works than the demo's held-out chorales); its own section too.
Pieces that render one work (``<work>@<variant>``) are drawn together in the bootstrap.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from agent.decision.model_card import set_card_section
from agent.pairs import work_of
from agent.piece_bootstrap import RESAMPLES, pooled_ratio_interval

log = logging.getLogger("seed_spread")
MODEL_ROW = "model (free-running)"
LOOKUP = ("lookup (answer given performer)", "free-running")


def figures(report: dict) -> dict[str, float]:
    """The seed's row of the table, from its ``evaluation.json``."""
    rows = {(r["method"], r["mode"]): r for r in report["results"]}
    model = rows[("model", "free-running")]["accuracy"]
    lookup = rows[LOOKUP]["accuracy"]
    out = {"label accuracy": model, "x lookup table": model / max(lookup, 1e-9)}
    listening = report.get("listening", {}).get("answers", {}).get(MODEL_ROW)
    if listening:
        out.update({
            "consonance": listening["consonance"]["matched"], "harmonic gain": listening["consonance"]["gain"],
            "onset F": listening["onset_f"]["matched"], "rhythmic gain": listening["onset_f"]["gain"],
        })
    return out


def piece_interval(reports: list[dict]) -> str:
    """One line: the label-accuracy ratio to the lookup table pooled over seeds and held-out pieces,
    with its 95 % bootstrap interval over the pieces, or over their works when several pieces render
    one work (the same draw for every seed)."""
    pieces, steps = reports[0]["pieces"], reports[0].get("per_piece_steps")
    if any(r["pieces"] != pieces or r.get("per_piece_steps") != steps for r in reports):
        raise ValueError("the evaluations are not on the same held-out pieces with the same chunks (or some do not record their chunks): evaluate them again")
    per_piece = [{(x["method"], x["mode"]): x["per_piece_accuracy"] for x in r["results"]} for r in reports]
    works = [work_of(p) for p in pieces]
    ratio, low, high = pooled_ratio_interval(np.array([p[("model", "free-running")] for p in per_piece]),
                                             np.array([p[LOOKUP] for p in per_piece]), None if steps is None else np.array(steps), groups=works)
    weighting = "weighted by their chunks" if steps is not None else "weighted equally, since these evaluations do not record their chunks"
    count = len(set(works))
    drawn = "pieces" if count == len(pieces) else f"{count} works, every rendering of a drawn work together"
    return (f"Label accuracy over the lookup table's, pooled over the {len(reports)} seeds and {len(pieces)} held-out pieces: **{ratio:.3f}x**, "
            f"95 % interval {low:.2f}x to {high:.2f}x ({RESAMPLES:,} bootstrap draws of the {drawn}, the same draw for every seed; pieces {weighting}). "
            "The spread over seeds above does not include which pieces happened to be held out; this interval does, "
            "though a percentile bootstrap over few pieces tends to be too narrow, and it holds the trained models fixed.")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="the shipped model folder (its evaluation.json is one seed)")
    parser.add_argument("evals", nargs="+", help="evaluation folders of the other seeds")
    parser.add_argument("--update-card", action="store_true", help="write the table into the model's README.md")
    parser.add_argument("--room", action="store_true", help="evaluations of performers heard through a room (--augment-performer)")
    parser.add_argument("--works", action="store_true", help="label-only evaluations on the training corpus's held-out works (--no-listening)")
    parser.add_argument("--card", default=None, help="the model folder whose README.md gets the table (default: the first folder)")
    args = parser.parse_args()
    if args.room and args.works:
        log.error("--room and --works write different sections: give one of them")
        return 2
    folders = [Path(args.model), *map(Path, args.evals)]
    reports = [json.loads((f / "evaluation.json").read_text(encoding="utf-8")) for f in folders]
    rows = [figures(r) for r in reports]
    names = list(rows[0])
    lines = ["| run | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for folder, row in zip(folders, rows):
        lines.append(f"| {folder} | " + " | ".join(f"{row[n]:.3f}" for n in names) + " |")
    stats = {n: (float(np.mean([r[n] for r in rows])), float(np.std([r[n] for r in rows]))) for n in names}
    lines.append(f"| **mean +- std ({len(rows)} seeds)** | " + " | ".join(f"**{m:.3f} +- {s:.3f}**" for m, s in stats.values()) + " |")
    try:
        interval = piece_interval(reports)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    table = "\n".join(lines) + "\n\n" + interval
    sys.stdout.write(table + "\n")
    if args.update_card:
        heard = [r.get("performer_heard_through") for r in reports]
        if any((h is not None) != args.room for h in heard):
            log.error("--room goes with evaluations made with --augment-performer, and only with them")
            return 2
        if args.room and (args.card is None or len({h["seed"] for h in heard}) != 1):
            log.error("--room --update-card needs --card MODEL_DIR and evaluations made with one --augment-performer seed")
            return 2
        if args.works and args.card is None:
            log.error("--works --update-card needs --card MODEL_DIR (the model whose card gets the section)")
            return 2
        listened = [str(f) for f, r in zip(folders, reports) if "listening" in r]
        if args.works and listened:
            log.error("--works takes label-only evaluations (antiphon evaluate --no-listening); %s has listening figures", listened[0])
            return 2
        if args.works:
            heading, body = "Seeds on the training corpus's held-out works (labels)", (
                f"Seeds 0 (shipped), 1 and 2 (trained by `scripts/train-default-model.sh`), labels only (`antiphon evaluate ... --pairs {reports[0]['pairs']} --no-listening`), on every held-out "
                "piece of the training corpus's pairs: works no seed trained or validated on, in all their renderings, the lookup "
                "table counted on that corpus's training pieces.\n\n" + table)
        elif args.room:
            heading, body = "Seeds, heard through a room (held-out, mean and spread)", (
                f"Seeds 0, 1 and 2 as above, each held-out performer heard through a random room, EQ, noise and gain "
                f"(`antiphon evaluate ... --augment-performer {heard[0]['seed']}`; the fit is measured against the clean take).\n\n" + table)
        else:
            heading, body = "Seeds (held-out, mean and spread)", (
                "The same command with seeds 0 (shipped, whatever it scores), 1 and 2 (`scripts/train-default-model.sh`), "
                "each evaluated on the held-out pieces as above.\n\n" + table)
        card = set_card_section(Path(args.card or args.model) / "README.md", heading, body)
        log.info("wrote %s", card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
