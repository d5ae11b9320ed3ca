"""Per-chunk perception cost of each backend, as the live worker pays it (one chunk at a time, one
torch thread), at hop 0.1, 0.25 and 0.5 s: mean and p99 in ms, and p99 as a share of the hop.

    .venv/bin/python bench/perception.py [--perception models/antiphon-w2v2-small] [--chunks 300]

Backends: dsp; the pretrained small Wav2Vec2; the same architecture with random weights (same cost,
printed as a check). Input: random excerpts of the held-out demo sopranos (corpora/demo-pairs; run
`antiphon demo` first), else noise. Target (issue 4): about 20 ms per 0.25 s chunk at most.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent import paths  # noqa: E402
from agent.audio_io import PERCEPTION_RATE_HZ  # noqa: E402
from agent.perception import PerceptionConfig, load_perception  # noqa: E402
from agent.studies.perception_comparison import chunk_compute_ms, heldout_audio  # noqa: E402
from agent.perception.pretrain import read_architecture, save_random_encoder  # noqa: E402

HOPS_S = (0.1, 0.25, 0.5)


def audio() -> list[np.ndarray]:
    if (paths.DEMO_PAIRS_DIR / "split.json").is_file():
        return heldout_audio(paths.DEMO_PAIRS_DIR)
    print("no demo pairs (run `antiphon demo`): timing on noise", file=sys.stderr)
    return [np.random.default_rng(0).standard_normal(60 * PERCEPTION_RATE_HZ).astype(np.float32)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--perception", default=str(paths.DEFAULT_PERCEPTION_DIR), help="pretrained small Wav2Vec2 folder")
    parser.add_argument("--chunks", type=int, default=300, help="chunks timed per backend and hop")
    args = parser.parse_args()
    signals = audio()
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"dsp": PerceptionConfig(backend="dsp")}
        folder = Path(args.perception)
        if (folder / "config.json").is_file():
            backends["w2v2-small pretrained"] = PerceptionConfig(backend="wav2vec2", checkpoint=str(folder))
            random_dir = save_random_encoder(Path(tmp) / "random", read_architecture(folder), seed=0)
            backends["w2v2-small random"] = PerceptionConfig(backend="wav2vec2", checkpoint=str(random_dir))
        else:
            print(f"no pretrained encoder in {folder} (antiphon pretrain-perception): dsp only", file=sys.stderr)
        print(f"per-chunk perception, one torch thread, {args.chunks} chunks of held-out demo audio per row")
        print(f"{'backend':24s} {'hop ms':>6s} {'mean ms':>8s} {'p99 ms':>7s} {'p99/hop':>8s}")
        for name, config in backends.items():
            perception = load_perception(config)
            for hop_s in HOPS_S:
                ms = chunk_compute_ms(perception, signals, hop_s, args.chunks, seed=0)
                print(f"{name:24s} {1e3 * hop_s:6.0f} {ms['mean_ms']:8.2f} {ms['p99_ms']:7.2f} {ms['p99_ms'] / (1e3 * hop_s):8.3f}")


if __name__ == "__main__":
    main()
