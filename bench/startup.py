"""Start-up: how long a user waits for `antiphon rehearse` of a 10 s take, and for `antiphon serve` to play.

    python bench/startup.py [--model models/demo-soprano-bass] [--runs 3] [--no-serve]

1. `antiphon -q rehearse` of the first 10 s of a held-out demo soprano, as a new process each time
   (imports, model, corpus, rehearsal, listening analysis, mixes, plot): wall time per run.
2. `antiphon serve` on JACK's dummy driver (jackd started here, as in the live tests): the time from
   launching the process to its first answer slot written (the first status line with a decision,
   at 0.1 s status intervals).
The corpus audio store is warmed once first (the first use of a corpus at a rate writes it, see
agent/corpus/audio_store.py), as it is after the first run on a machine.
Targets: rehearsal <= 4 s wall, serve plays within 5 s.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from agent import paths
from agent.pairs import read_heldout

sys.path.insert(0, str(paths.REPO_ROOT))  # the JACK helpers shared with the live tests
from tests.engine.jack_session import start_jackd  # noqa: E402

ANTIPHON = [sys.executable, "-m", "agent"]


def ten_second_take(folder: Path) -> Path:
    piece = sorted(read_heldout(paths.DEMO_PAIRS_DIR))[0]
    audio, rate = sf.read(next((paths.DEMO_PAIRS_DIR / piece).glob("soprano.*")), dtype="float32")
    take = folder / "take-10s.wav"
    sf.write(take, audio[: 10 * rate], rate)
    return take


def rehearse_s(model: str, take: Path, out: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([*ANTIPHON, "-q", "rehearse", "--model", model, "--input", str(take), "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"rehearse failed: {done.stderr.strip()[-500:]}")
    return wall


def serve_s(model: str, log: Path) -> float:
    """Seconds from launching `antiphon serve` to its first decision in a status line."""
    jack = start_jackd(log=log.with_name("jackd.log"))
    try:
        with open(log, "w", encoding="utf-8") as err:
            t0 = time.perf_counter()
            serve = subprocess.Popen([*ANTIPHON, "serve", "--model", model, "--device", "system", "--no-osc", "--status-every-s", "0.1"],
                                     stdout=subprocess.DEVNULL, stderr=err, env=jack.env)
        try:
            while True:
                text = log.read_text(encoding="utf-8", errors="replace")
                if re.search(r"steps [1-9]", text):
                    return time.perf_counter() - t0
                if serve.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit(f"serve did not play: {text[-800:]}")
                time.sleep(0.02)
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
    finally:
        jack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-serve", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        take = ten_second_take(folder)
        rehearse_s(args.model, take, folder / "warm")  # the corpus audio store, written once per machine
        walls = [rehearse_s(args.model, take, folder / f"run{i}") for i in range(args.runs)]
        print(f"rehearse a 10 s take: wall {np.median(walls):.2f} s median of {args.runs} (min {min(walls):.2f}, max {max(walls):.2f}); "
              f"target 4 s: {'met' if np.median(walls) <= 4.0 else 'NOT met'}")
        if not args.no_serve:
            plays = [serve_s(args.model, folder / f"serve{i}.log") for i in range(args.runs)]
            print(f"serve: first answer {np.median(plays):.2f} s after launch, median of {args.runs} (min {min(plays):.2f}, max {max(plays):.2f}); "
                  f"target 5 s: {'met' if np.median(plays) <= 5.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
