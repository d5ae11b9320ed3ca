"""Decision-model step time with the KV cache, against the attention window (context) length.

    python bench/decision_step.py [--model models/NAME] [--hop-s 0.25] [--steps 2000]

For each context (4, 16, 64 s at the hop), a model of the shipped architecture (or of --model's
config, with random weights) steps through a stream longer than its window, so the ring buffer is
full and wrapping: the cost measured is the steady live cost. Prints mean and p99 per step and the
ratio of the longest to the shortest context (flat = about 1). Target: p99 < 5 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from agent.decision.config import DecisionConfig
from agent.decision.model import DecisionModel


def time_steps(config: DecisionConfig, steps: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    model = DecisionModel(config).eval()
    state = model.initial_state(1)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, config.num_labels, steps + config.context_chunks)
    times = []
    with torch.inference_mode():
        for t, label in enumerate(labels):
            t0 = time.perf_counter()
            logits, state = model.step(state, int(label), int(labels[t - 1]) if t else config.start_token)
            int(logits.argmax())
            if t >= config.context_chunks:  # steady state: window full
                times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder whose config to use (default: the shipped architecture)")
    parser.add_argument("--hop-s", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = DecisionConfig(dropout=0.0)
    if args.model:
        base = DecisionConfig.from_dict(json.loads((Path(args.model) / "config.json").read_text())["model"])
    print(f"decision step (KV cache), {base.num_layers} layers, width {base.width}, hop {args.hop_s} s, torch threads {torch.get_num_threads()}")
    print(f"{'context s':>9} {'chunks':>6} {'mean ms':>8} {'p99 ms':>7}")
    means = []
    for seconds in (4, 16, 64):
        chunks = max(2, int(round(seconds / args.hop_s)))
        ms = time_steps(replace(base, context_chunks=chunks, dropout=0.0), args.steps)
        means.append(ms.mean())
        print(f"{seconds:>9} {chunks:>6} {ms.mean():8.3f} {np.percentile(ms, 99):7.3f}")
    print(f"mean at 64 s / mean at 4 s = {means[-1] / means[0]:.2f} (1.00 = flat in context length); target p99 < 5 ms")


if __name__ == "__main__":
    main()
