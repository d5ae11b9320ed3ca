"""Xruns over long live runs: quiet, with one busy background process, and generating loops.

    python bench/xruns.py [--model models/demo-soprano-bass] [--minutes 10] [--no-busy] [--loops] [--jack-no-realtime]

`antiphon serve` answers held-out demo sopranos (tiled to --minutes) played into it through JACK's
dummy driver (48 kHz, 256-frame blocks, realtime scheduling where the machine allows), as in
bench/engine_latency.py. Run 1: nothing else runs. Run 2: a background process keeps one core busy
(numpy matrix products, at normal priority) all along. Per run: xruns (and jackd's account of who
was late), underruns, skipped decisions and resyncs from the server's trace. Target: 0 xruns quiet.
With --loops, a third run: the server (serve --allow-loops) is asked over OSC for 8 two-bar loops
every 10 s (`/antiphon/loops/generate 124 2 8`) while it answers, so its background loop worker
and the agent share the machine (issue 16: generation never holds up the audio).
The audio callback's thread is realtime under a realtime jackd; the Python threads stay at normal
priority (see agent/engine/live.py for why).
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from agent import paths
from agent.audio_io import read_mono
from agent.pairs import read_heldout

sys.path.insert(0, str(paths.REPO_ROOT))  # the JACK helpers shared with the live tests
from tests.engine.jack_session import play_through_serve, realtime_allowed, start_jackd, xrun_account, xrun_events  # noqa: E402

BUSY = "import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a = (a @ a) / 400.0\n"


def final_status(serve_log: str) -> dict:
    """The figures of the server's last status line ("stopped: xruns N  underruns N ...")."""
    line = [x for x in serve_log.splitlines() if x.startswith("stopped:")][-1]
    figures = {k: float(v) for k, v in re.findall(r"(xruns|underruns|skipped|resyncs|steps) (\d+)", line)}
    figures["compute_p99_ms"] = float(re.search(r"p99 ([\d.]+) ms", line).group(1))
    return figures


def ask_for_loops(port: int, stop: threading.Event, every_s: float = 10.0) -> None:
    """Send /antiphon/loops/generate 124 2 8 to the server every ``every_s`` until ``stop``."""
    from pythonosc.udp_client import SimpleUDPClient

    client = SimpleUDPClient("127.0.0.1", port)
    while not stop.wait(every_s):
        client.send_message("/antiphon/loops/generate", [124.0, 2, 8])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_run(model: str, seconds: float, realtime: bool | None, busy: bool, log_dir: Path, loops: bool = False) -> dict:
    takes = [next((paths.DEMO_PAIRS_DIR / p).glob("soprano.*")) for p in sorted(read_heldout(paths.DEMO_PAIRS_DIR))]
    audio = np.concatenate([read_mono(t, 48_000)[0] for t in takes])
    audio = np.tile(audio, int(np.ceil(seconds * 48_000 / len(audio))))[: int(seconds * 48_000)]
    jack_log = log_dir / f"jackd-{'busy' if busy else 'loops' if loops else 'quiet'}.log"
    jack = start_jackd(log=jack_log, realtime=realtime)
    burner = subprocess.Popen([sys.executable, "-c", BUSY], env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) if busy else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            take = Path(tmp) / "take.wav"
            sf.write(take, audio, 48_000, subtype="FLOAT")
            serve_args = ["--model", model, "--status-every-s", "10", "--no-osc"]
            stop, sender = threading.Event(), None
            if loops:
                port = free_udp_port()
                serve_args = ["--model", model, "--status-every-s", "10", "--osc-port", str(port), "--reply-port", "0",
                              "--allow-loops", "--loops-dir", str(Path(tmp) / "loops")]
                sender = threading.Thread(target=ask_for_loops, args=(port, stop), daemon=True)
                sender.start()
            try:
                run = play_through_serve(jack, serve_args, take, Path(tmp) / "rec.wav", tail_s=1, serve_log=Path(tmp) / "serve.log")
            finally:
                stop.set()
            status = final_status(run.serve_log)
            status["loop_requests_done"] = len(list((Path(tmp) / "loops").glob("*bpm"))) if loops else 0
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
        jack.stop()
    status["account"] = xrun_account(xrun_events(jack_log))
    status["jack_log"] = str(jack_log)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--no-busy", action="store_true")
    parser.add_argument("--loops", action="store_true", help="a run generating loops in the server too (needs models/loop-diffusion)")
    parser.add_argument("--jack-no-realtime", action="store_true")
    args = parser.parse_args()
    realtime = False if args.jack_no_realtime else None
    mode = "realtime" if (realtime_allowed() if realtime is None else realtime) else "no realtime"
    log_dir = paths.OUT_DIR / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = [(False, False)] + ([] if args.no_busy else [(True, False)]) + ([(False, True)] if args.loops else [])
    for busy, loops in runs:
        s = live_run(args.model, 60 * args.minutes, realtime, busy, log_dir, loops=loops)
        label = "busy (one core loaded)" if busy else f"generating loops ({s['loop_requests_done']} requests of 8 done)" if loops else "quiet"
        print(f"{label}: {args.minutes:g} min live on JACK dummy ({mode}): xruns {s['xruns']:.0f}, "
              f"underruns {s['underruns']:.0f}, skipped {s['skipped']:.0f}, resyncs {s['resyncs']:.0f}, decisions {s['steps']:.0f}, "
              f"compute p99 {s['compute_p99_ms']} ms", flush=True)
        print(f"  {s['account']}  ({s['jack_log']})", flush=True)


if __name__ == "__main__":
    main()
