"""Corpus build cost: seconds of build time per minute of audio, and peak memory, per backend.

    python bench/corpus_build.py [--pairs corpora/demo-pairs] [--pieces N] [--backends dsp,wav2vec2-small]

Each build runs in its own process so its peak resident memory (ru_maxrss) is its own.
`wav2vec2-small` is a Wav2Vec2 of the size planned for the default perception (hidden 256,
4 layers) with *random* weights saved to a temp folder: the cost is that of the architecture,
whatever its training. The demo pairs folder is made first if it is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent import paths

log = logging.getLogger("bench.corpus_build")


def small_wav2vec2(folder: Path) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
        conv_dim=(256,) * 7, num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16,
    )
    Wav2Vec2Model(config).save_pretrained(folder)
    return folder


def one_build(pairs: Path, backend: str, pieces: int) -> dict:
    """Build in this process; return timing and memory as a dict."""
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.corpus.format import load_corpus
    from agent.pairs import scan_pairs
    from agent.perception import PerceptionConfig

    with tempfile.TemporaryDirectory(prefix="antiphon-bench-") as tmp:
        sub = Path(tmp) / "pairs"
        sub.mkdir()
        chosen = scan_pairs(pairs, ("soprano", "bass"))[:pieces]
        for piece in chosen:
            (sub / piece.name).symlink_to(piece.stems["soprano"].parent.resolve())
        if backend == "dsp":
            perception = PerceptionConfig(backend="dsp")
        else:
            perception = PerceptionConfig(backend="wav2vec2", checkpoint=str(small_wav2vec2(Path(tmp) / "w2v2")))
        config = CorpusBuildConfig(source_stem="soprano", target_stem="bass", perception=perception, codebook_size=32)
        start = time.perf_counter()
        out = build_corpus(sub, Path(tmp) / "corpus", config)
        seconds = time.perf_counter() - start
        corpus = load_corpus(out, with_audio=False)
        audio_min = sum(p["duration_s"] for p in corpus.manifest["pieces"]) / 60.0
    return {
        "backend": backend,
        "pieces": len(chosen),
        "audio_min": audio_min,
        "build_s": seconds,
        "s_per_audio_min": seconds / audio_min,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(paths.DEMO_PAIRS_DIR))
    parser.add_argument("--pieces", type=int, default=100)
    parser.add_argument("--backends", default="dsp,wav2vec2-small")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pairs = Path(args.pairs)
    if args.one:
        sys.stdout.write(json.dumps(one_build(pairs, args.one, args.pieces)) + "\n")
        return
    if not (pairs / "split.json").exists():
        log.info("making the demo pairs first (%d pieces)", args.pieces)
        subprocess.run([sys.executable, "-m", "agent", "make-demo-pairs", "--out", str(pairs), "--pieces", str(args.pieces)], check=True)
    rows = []
    for backend in args.backends.split(","):
        cmd = [sys.executable, __file__, "--pairs", str(pairs), "--pieces", str(args.pieces), "--one", backend]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{backend} build failed:\n{result.stderr[-2000:]}")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    log.info("corpus build (soprano -> bass, hop 0.25 s, K=32), machine: %s cores", shutil.os.cpu_count())
    log.info("%-16s %6s %9s %9s %14s %12s", "backend", "pieces", "audio min", "build s", "s / audio min", "peak RSS MB")
    for r in rows:
        log.info(
            "%-16s %6d %9.1f %9.1f %14.2f %12.0f",
            r["backend"], r["pieces"], r["audio_min"], r["build_s"], r["s_per_audio_min"], r["peak_rss_mb"],
        )


if __name__ == "__main__":
    main()
