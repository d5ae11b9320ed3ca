"""Memory over live swaps: resident memory of a serving process while models and corpora are swapped.

    python bench/swap_memory.py [--model models/demo-soprano-bass] [--corpus corpora/demo] [--swaps 100] [--rate 48000]

One voice (as `antiphon serve` makes it, at --rate) answers a held-out soprano between swaps; each
swap builds a new agent through the engine's loader code (``agent.engine.loader.build_agent``),
alternately with a new model (the same folder, loaded again) and a new corpus (the same folder),
and hands over to it through the agent driver, as the worker does. Prints resident memory (RSS,
and its anonymous and file-backed parts from /proc) before the first swap and every 10 swaps, the
growth from swap 10 to the last, and the corpus audio's footprint. Target: flat within 50 MB.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path


from agent import paths
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.corpus.audio_store import playback_audio
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.loader import build_agent
from agent.engine.voice import Voice, VoiceSpec
from agent.pairs import read_heldout

MB = 1024 * 1024


def memory_mb() -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--corpus", default=None, help="default: the model's own")
    parser.add_argument("--swaps", type=int, default=100)
    parser.add_argument("--rate", type=int, default=48_000, help="the stream rate")
    parser.add_argument("--pairs", default=str(paths.DEMO_PAIRS_DIR), help="a held-out soprano of these pairs is the performer")
    args = parser.parse_args()

    bundle, corpus, perception = load_agent_parts(Path(args.model), Path(args.corpus) if args.corpus else None)
    agent = AnswerAgent(bundle, corpus, perception, EngineConfig(), output_rate_hz=args.rate)
    agent.warm_up()
    voice = Voice(VoiceSpec(), agent, args.rate, 256)
    take = read_mono(Path(args.pairs) / sorted(read_heldout(Path(args.pairs)))[0] / "soprano.flac", PERCEPTION_RATE_HZ)[0]
    block = int(0.5 * PERCEPTION_RATE_HZ)  # half a second of performance between swaps
    voice.driver.start()
    audio_mb = sum(a.nbytes for a in playback_audio(corpus, args.rate)) / MB
    print(f"corpus {corpus.path}: {len(corpus.piece_names)} pieces, audio at {args.rate} Hz {audio_mb:.0f} MB (mapped, 16-bit)")
    print(f"{'swaps':>5} {'RSS MB':>8} {'anon MB':>8} {'file MB':>8} {'swap s':>7}")
    rows = []
    pos = 0
    t_swap = 0.0
    for i in range(args.swaps + 1):
        if i % 10 == 0:
            gc.collect()
            m = memory_mb()
            rows.append((i, m))
            print(f"{i:5d} {m['VmRSS']:8.0f} {m['RssAnon']:8.0f} {m['RssFile']:8.0f} {t_swap / max(i, 1):7.2f}", flush=True)
        if i == args.swaps:
            break
        t0 = time.perf_counter()
        new = build_agent(voice, model_dir=Path(args.model)) if i % 2 == 0 else build_agent(voice, corpus_dir=corpus.path)
        voice.driver.swap(new)
        t_swap += time.perf_counter() - t0
        for _ in range(2):
            voice.driver.clock.voice.state.out_read += int(0.25 * args.rate)  # the play head moves on as the card plays
            voice.driver.push(take[pos : pos + block // 2])
            pos = (pos + block // 2) % max(len(take) - block, 1)
    first = next(m for i, m in rows if i == min(10, args.swaps))
    last = rows[-1][1]
    growth = last["VmRSS"] - first["VmRSS"]
    print(f"RSS growth from swap {min(10, args.swaps)} to {args.swaps}: {growth:+.0f} MB (target: within 50 MB) "
          f"anonymous {last['RssAnon'] - first['RssAnon']:+.0f} MB, file-backed {last['RssFile'] - first['RssFile']:+.0f} MB")
    print(f"mean time to build an agent for a swap: {t_swap / max(args.swaps, 1):.2f} s")
    sys.exit(0 if abs(growth) <= 50 else 1)


if __name__ == "__main__":
    main()
