"""Sweep of the decision model on the demo corpus: what K, hop, context, size and training choices do.

    python bench/decision_sweep.py [--pairs corpora/demo-pairs] [--out out/sweep] [--jobs 2] [--only NAME,...]

One setting changes at a time from the base (K=16, hop 0.25 s, context 64 chunks, 3 layers x 128,
answer dropout 1.0, anticipation 1). Each variant builds (or reuses) its corpus and trains in its
own process; the table prints held-out free-running and teacher-forced accuracy, the best trivial
baseline and the ratio, and the lookup-table reference. Results land in <out>/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE = {"k": 16, "hop": 0.25, "train": []}
VARIANTS: dict[str, dict] = {
    "base": {},
    "K=32": {"k": 32},
    "K=64": {"k": 64},
    "hop 0.5 s": {"hop": 0.5, "train": ["--context-chunks", "32"]},
    "context 16": {"train": ["--context-chunks", "16"]},
    "small (2x64)": {"train": ["--layers", "2", "--width", "64", "--heads", "4", "--ffn-width", "192"]},
    "answer dropout 0.5": {"train": ["--answer-dropout", "0.5"]},
    "anticipation 0": {"train": ["--anticipation-chunks", "0"]},
}


def antiphon(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "agent", "-q", *args], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run(name: str, variant: dict, pairs: Path, out: Path) -> dict:
    k, hop = variant.get("k", BASE["k"]), variant.get("hop", BASE["hop"])
    corpus = out / f"corpus-k{k}-hop{hop}"
    if not (corpus / "manifest.json").is_file():
        antiphon("build-corpus", "--pairs", str(pairs), "--source", "soprano", "--target", "bass", "--out", str(corpus),
                 "--codebook-size", str(k), "--hop-s", str(hop), "--force")
    model = out / ("model-" + "".join(c if c.isalnum() else "-" for c in name))
    train_args = ["--kind", "labels", "--answer-dropout", "1.0", *variant.get("train", [])]
    antiphon("train", "--corpus", str(corpus), "--out", str(model), "--force", "--max-epochs", "40", *train_args)
    meta = json.loads((model / "config.json").read_text())
    held = meta["training"]["heldout"]
    report = json.loads((model / "evaluation.json").read_text())
    lookup = next(r["accuracy"] for r in report["results"] if r["method"].startswith("lookup"))
    return {"name": name, "k": k, "hop_s": hop, "train_args": train_args, "params": meta["model"], **held, "lookup_accuracy": lookup,
            "epochs": meta["training"]["epochs_run"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="corpora/demo-pairs")
    parser.add_argument("--out", default="out/sweep")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default=None, help="comma-separated variant names")
    parser.add_argument("--from-json", action="store_true", help="do not train: print (and write to --card) the rows of <out>/sweep.json")
    parser.add_argument("--card", default=None, help="model card (README.md) whose '## Sweep' section is replaced by this table")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(VARIANTS)
    if args.from_json:
        rows = json.loads((out / "sweep.json").read_text())
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(lambda n: run(n, VARIANTS[n], Path(args.pairs), out), names))
        (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'variant':<20} {'K':>3} {'hop':>5} {'free-run':>8} {'teacher':>8} {'best trivial':>20} {'ratio':>6} {'lookup':>7}")
    for r in rows:
        print(f"{r['name']:<20} {r['k']:>3} {r['hop_s']:>5} {100 * r['accuracy_free_running']:7.1f}% {100 * r['accuracy_teacher_forced']:7.1f}% "
              f"{r['best_trivial_baseline']:>12} {100 * r['best_trivial_accuracy']:5.1f}% {r['ratio_to_best_trivial']:6.2f} {100 * r['lookup_accuracy']:6.1f}%")
    if args.card:
        write_card_section(Path(args.card), rows)


def write_card_section(card: Path, rows: list[dict]) -> None:
    """Replace (or append) the card's '## Sweep' section with this sweep's table."""
    lines = [
        "## Sweep",
        "",
        "Held-out results of `python bench/decision_sweep.py`: one setting changed at a time from the base",
        "(K=16, hop 0.25 s, context 64 chunks, 3 layers x 128, answer dropout 1.0, anticipation 1).",
        "The whole chain that rebuilds this model: `bash scripts/train-default-model.sh`.",
        "",
        "What the sweep says. The demo's bass is played by one of six General MIDI instruments chosen",
        "per piece, and DSP labels mix timbre, loudness and register: at K=16 one label holds about",
        "29 % of all bass chunks, so the unigram baseline is strong, and nothing the model hears",
        "from the soprano tells it which bass instrument a held-out piece uses. K=16",
        "with free-running-oriented training (answer dropout 1.0) is the only setting clearly above",
        "every baseline; at K=32/64 free-running accuracy falls below the lookup-table reference",
        "(3-4 %, against 13 % and 9 %); a lower answer dropout gives a high teacher-forced",
        "accuracy (it learns to copy the previous true label) but collapses to one label when running",
        "free. Runs are noisy (a rerun of one setting moves by several points). The 1.5x target over",
        "the best trivial baseline is not reached on this corpus with DSP perception (best 1.30x);",
        "the 15 % floor at K=16 is (37.9 %).",
        "",
        "| variant | K | hop (s) | free-running | teacher-forced | best trivial | ratio | lookup table |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['k']} | {r['hop_s']} | {100 * r['accuracy_free_running']:.1f} % | {100 * r['accuracy_teacher_forced']:.1f} % | "
            f"{r['best_trivial_baseline']} {100 * r['best_trivial_accuracy']:.1f} % | {r['ratio_to_best_trivial']:.2f} | {100 * r['lookup_accuracy']:.1f} % |"
        )
    text = card.read_text(encoding="utf-8")
    head = text.split("\n## Sweep\n")[0].rstrip("\n")
    card.write_text(head + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
