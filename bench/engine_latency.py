"""Engine latency: worker compute per chunk against the hop, live xruns on JACK, rehearsal speed.

    python bench/engine_latency.py [--model models/demo-soprano-bass] [--model-hop-0.5 out/sweep/model-hop-0-5-s]
                                   [--live-s 120] [--no-live] [--jack-no-realtime]

1. Rehearsal of the held-out demo pieces (soprano) with the shipped model at its own hop (0.1 s),
   and at 0.25 s and 0.5 s (the engine's hop setting), and with --model-hop-0.5 (a model trained at
   that hop, if present): compute per chunk (mean, p99) and as a ratio of the hop; rehearsal speed
   as a multiple of real time.
2. Live, at hops 0.1 s and 0.25 s: jackd with the dummy driver (48 kHz, 256-frame blocks, realtime scheduling
   where the machine allows it), `antiphon serve` with the shipped model, and a player process
   feeding held-out sopranos through JACK for --live-s seconds: xruns, underruns, skipped decisions
   and live compute p50/p99 from the server's trace, and jackd's account of any late client.
Targets on 2 cores: p99 compute <= 0.5 x hop, 0 xruns, rehearsal >= 20x real time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from agent import paths
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.decision.checkpoint import load_model
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal
from agent.pairs import read_heldout

sys.path.insert(0, str(paths.REPO_ROOT))  # the JACK helpers shared with the live test
from tests.engine.jack_session import play_through_serve, realtime_allowed, start_jackd, xrun_account, xrun_events  # noqa: E402

JACK_LOG = paths.OUT_DIR / "bench" / "jackd.log"  # jackd names the late client at each xrun
LIVE_HOPS_S = (0.1, 0.25)


def heldout_takes() -> list[Path]:
    names = sorted(read_heldout(paths.DEMO_PAIRS_DIR))
    return [next((paths.DEMO_PAIRS_DIR / n).glob("soprano.*")) for n in names]


def rehearsal_figures(model: Path, hop_s: float = 0.0) -> dict:
    # sweep models keep their corpora beside them (out/sweep/corpus-...), shipped ones under corpora/
    beside = Path(model).parent / load_model(model).corpus_meta["name"]
    bundle, corpus, perception = load_agent_parts(model, beside if beside.is_dir() else None)
    agent = AnswerAgent(bundle, corpus, perception, EngineConfig(hop_s=hop_s))
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


def live_figures(model: Path, seconds: float, realtime: bool | None, hop_s: float = 0.0) -> dict:
    takes = heldout_takes()
    audio = np.concatenate([read_mono(t, 48_000)[0] for t in takes])
    audio = np.tile(audio, int(np.ceil(seconds * 48_000 / len(audio))))[: int(seconds * 48_000)]
    jack = start_jackd(log=JACK_LOG, realtime=realtime)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            take = Path(tmp) / "take.wav"
            sf.write(take, audio, 48_000, subtype="FLOAT")
            play_through_serve(jack, ["--model", str(model), "--hop-s", str(hop_s), "--status-every-s", "10", "--trace-dir", tmp, "--no-osc"],
                               take, Path(tmp) / "rec.wav", tail_s=1, serve_log=Path(tmp) / "serve.log")
            status = json.loads((Path(tmp) / "live-trace.json").read_text())["status"]
        finally:
            jack.stop()
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--model-hop-0.5", dest="model_half", default="out/sweep/model-hop-0-5-s", help="a model trained at hop 0.5 s (bench/decision_sweep.py makes one)")
    parser.add_argument("--live-s", type=float, default=120.0)
    parser.add_argument("--no-live", action="store_true")
    parser.add_argument("--jack-no-realtime", action="store_true", help="run jackd without realtime scheduling (the default uses it where allowed)")
    args = parser.parse_args()
    print("rehearsal of the held-out demo sopranos (compute per chunk includes perception, decision, selection, rendering)")
    print(f"{'model':<32} {'hop ms':>6} {'chunks':>6} {'mean ms':>8} {'p99 ms':>7} {'p99/hop':>7} {'speed':>8}")
    runs = [(Path(args.model), 0.0), (Path(args.model), 0.25), (Path(args.model), 0.5), (Path(args.model_half), 0.0)]
    for model, hop_s in runs:
        if not (model / "config.json").is_file():
            print(f"(skipped {model}: no such model)")
            continue
        f = rehearsal_figures(model, hop_s)
        name = model.name + (f" at hop {hop_s} s" if hop_s else "")
        print(f"{name:<32} {f['hop_ms']:6.0f} {f['chunks']:6d} {f['mean_ms']:8.2f} {f['p99_ms']:7.2f} {f['p99_ms'] / f['hop_ms']:7.3f} {f['speed_x']:7.0f}x")
    if args.no_live:
        return
    mode = "no realtime" if args.jack_no_realtime else ("realtime" if realtime_allowed() else "no realtime: not allowed here")
    own_hop_s = load_model(Path(args.model)).corpus_meta["chunking"]["hop_s"]
    for hop_s in LIVE_HOPS_S:
        setting = 0.0 if abs(hop_s - own_hop_s) < 1e-9 else hop_s  # 0: the model's own hop
        s = live_figures(Path(args.model), args.live_s, False if args.jack_no_realtime else None, setting)
        print(f"live at hop {hop_s} s on JACK dummy (48 kHz, 256-frame blocks, {mode}), {args.live_s:.0f} s: xruns {s['xruns']}, underruns {s['underruns']}, "
              f"skipped {s['skipped']}, steps {s['steps']}, callbacks {s['callbacks']}, compute p50 {s['compute_p50_ms']} ms p99 {s['compute_p99_ms']} ms "
              f"(p99/hop {s['compute_p99_ms'] / (hop_s * 1e3):.3f})")
        print(f"  {xrun_account(xrun_events(JACK_LOG))}  ({JACK_LOG})")

if __name__ == "__main__":
    main()
