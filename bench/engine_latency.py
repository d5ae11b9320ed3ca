"""Engine latency: worker compute per chunk against the hop, live xruns on JACK, rehearsal speed.

    python bench/engine_latency.py [--model models/demo-soprano-bass] [--model-hop-0.5 out/sweep/model-hop-0-5-s]
                                   [--live-s 120] [--no-live]

1. Rehearsal of the held-out demo pieces (soprano) with each model: compute per chunk (mean, p99)
   and as a ratio of the hop; rehearsal speed as a multiple of real time.
2. Live: jackd with the dummy driver (48 kHz, 256-frame blocks), `antiphon serve` with the shipped
   model, and a player process feeding held-out sopranos through JACK for --live-s seconds:
   xruns, underruns, skipped decisions and live compute p50/p99 from the server's trace.
Targets on 2 cores: p99 compute <= 0.5 x hop, 0 xruns, rehearsal >= 20x real time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from agent import paths
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal
from agent.pairs import read_heldout

PLAYER = paths.REPO_ROOT / "tests" / "engine" / "jack_player.py"


def heldout_takes() -> list[Path]:
    names = sorted(read_heldout(paths.DEMO_PAIRS_DIR))
    return [next((paths.DEMO_PAIRS_DIR / n).glob("soprano.*")) for n in names]


def rehearsal_figures(model: Path) -> dict:
    from agent.decision.checkpoint import load_model

    corpus = paths.CORPORA_DIR / load_model(model).corpus_meta["name"]
    if not corpus.is_dir():
        corpus = Path(model).parent / load_model(model).corpus_meta["name"]
    bundle, corpus_obj, perception = load_agent_parts(model, corpus)
    agent = AnswerAgent(bundle, corpus_obj, perception, EngineConfig())
    agent.warm_up()
    compute, seconds, wall = [], 0.0, 0.0
    for take in heldout_takes():
        x, _ = read_mono(take, PERCEPTION_RATE_HZ)
        result = run_rehearsal(agent, x)
        compute += [s.compute_s for s in result.steps]
        seconds += result.input_s
        wall += result.wall_s
    ms = np.array(compute) * 1e3
    hop_ms = agent.chunking.hop_s * 1e3
    return {"hop_ms": hop_ms, "mean_ms": ms.mean(), "p99_ms": np.percentile(ms, 99), "chunks": len(ms), "speed_x": seconds / wall}


def live_figures(model: Path, seconds: float) -> dict:
    takes = heldout_takes()
    audio = np.concatenate([read_mono(t, 48_000)[0] for t in takes])
    audio = np.tile(audio, int(np.ceil(seconds * 48_000 / len(audio))))[: int(seconds * 48_000)]
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    jack = subprocess.Popen(["jackd", "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True)
            take = Path(tmp) / "take.wav"
            sf.write(take, audio, 48_000, subtype="FLOAT")
            serve = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--model", str(model), "--device", "system",
                                      "--duration-s", str(seconds + 8), "--status-every-s", "10", "--trace-dir", tmp],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _wait_port("PortAudio:in_0")
            player = subprocess.Popen([sys.executable, str(PLAYER), str(take), str(Path(tmp) / "rec.wav"), "3", "1"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _wait_port("PortAudio-01:in_0")
            for a, b in [("system:capture_1", "PortAudio:in_0"), ("system:capture_1", "PortAudio-01:in_0")]:
                subprocess.run(["jack_disconnect", a, b], capture_output=True)
            subprocess.run(["jack_connect", "PortAudio-01:out_0", "PortAudio:in_0"], check=True)
            subprocess.run(["jack_connect", "PortAudio:out_0", "PortAudio-01:in_0"], check=True)
            player.communicate()
            serve.communicate()
            status = json.loads((Path(tmp) / "live-trace.json").read_text())["status"]
        finally:
            jack.terminate()
            jack.wait()
    return status


def _wait_port(name: str, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if name in subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split():
            return
        time.sleep(0.2)
    raise SystemExit(f"JACK port {name} never appeared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--model-hop-0.5", dest="model_half", default="out/sweep/model-hop-0-5-s", help="a model trained at hop 0.5 s (bench/decision_sweep.py makes one)")
    parser.add_argument("--live-s", type=float, default=120.0)
    parser.add_argument("--no-live", action="store_true")
    args = parser.parse_args()
    print("rehearsal of the held-out demo sopranos (compute per chunk includes perception, decision, selection, rendering)")
    print(f"{'hop ms':>6} {'chunks':>6} {'mean ms':>8} {'p99 ms':>7} {'p99/hop':>7} {'speed':>8}")
    for model in [Path(args.model), Path(args.model_half)]:
        if not (model / "config.json").is_file():
            print(f"(skipped {model}: no such model)")
            continue
        f = rehearsal_figures(model)
        print(f"{f['hop_ms']:6.0f} {f['chunks']:6d} {f['mean_ms']:8.2f} {f['p99_ms']:7.2f} {f['p99_ms'] / f['hop_ms']:7.3f} {f['speed_x']:7.0f}x")
    if not args.no_live:
        s = live_figures(Path(args.model), args.live_s)
        print(f"live on JACK dummy (48 kHz, 256-frame blocks), {args.live_s:.0f} s: xruns {s['xruns']}, underruns {s['underruns']}, "
              f"skipped {s['skipped']}, steps {s['steps']}, callbacks {s['callbacks']}, last xrun at callback {s['last_xrun_callback']}, compute p50 {s['compute_p50_ms']} ms p99 {s['compute_p99_ms']} ms")


if __name__ == "__main__":
    main()
