"""OSC round-trip time while the engine runs inference.

    python bench/osc_rtt.py [--model models/demo-soprano-bass] [--pings 3000] [--rate-hz 200]

Starts jackd (dummy driver, 48 kHz, 256-frame blocks, realtime scheduling where allowed) and
`antiphon serve` with the shipped model, makes the agent's input a held-out demo soprano (file
input, looping), and measures /antiphon/ping -> /antiphon/pong round trips from a UDP client:
first with the agent stopped (idle), then while it answers (perception, decision, grain choice
every hop). Prints median, p99 and max in ms, and the server's xruns. Target on 2 cores: p99 <= 2 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent import paths
from agent.pairs import read_heldout

sys.path.insert(0, str(paths.REPO_ROOT))
from tests.engine.jack_session import realtime_allowed, start_jackd  # noqa: E402
from tests.osc.osc_client import Client, message, wait_for_osc_port  # noqa: E402


def round_trips(client: Client, count: int, rate_hz: float) -> np.ndarray:
    """Seconds per ping -> pong (other messages are skipped)."""
    from pythonosc.osc_packet import OscPacket

    out = []
    for i in range(count):
        t0 = time.perf_counter()
        client.sock.sendto(message("/antiphon/ping", i), client.server)
        while True:
            data, _ = client.sock.recvfrom(65536)
            msgs = OscPacket(data).messages
            if any(m.message.address == "/antiphon/pong" and m.message.params == [i] for m in msgs):
                break
        out.append(time.perf_counter() - t0)
        time.sleep(max(0.0, 1.0 / rate_hz - (time.perf_counter() - t0)))
    return np.array(out)


def wait_status(client: Client, agent: str, timeout_s: float = 60.0) -> list:
    return client.wait_for("/antiphon/status", timeout_s=timeout_s, where=lambda a: a[0] == agent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR))
    parser.add_argument("--pings", type=int, default=3000)
    parser.add_argument("--rate-hz", type=float, default=200.0, help="pings per second")
    args = parser.parse_args()
    take = next((paths.DEMO_PAIRS_DIR / sorted(read_heldout(paths.DEMO_PAIRS_DIR))[0]).glob("soprano.*"))
    with tempfile.TemporaryDirectory() as tmp:
        jack = start_jackd(log=Path(tmp) / "jackd.log")
        log_path = Path(tmp) / "serve.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed below
        serve = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--model", args.model, "--device", "system", "--osc-port", "0", "--allow-quit",
                                  "--reply-port", "0", "--wait-for-start", "--status-every-s", "1"], stdout=subprocess.DEVNULL, stderr=log, env=jack.env)
        try:
            client = Client(("127.0.0.1", wait_for_osc_port(log_path, serve)))
            end = time.monotonic() + 90
            while True:
                client.send("/antiphon/register", client.port)
                try:
                    wait_status(client, "answer", timeout_s=1.0)
                    break
                except AssertionError:
                    if serve.poll() is not None or time.monotonic() > end:
                        raise SystemExit(f"server did not start:\n{log_path.read_text()}") from None
            client.send("/antiphon/answer/input", str(take))
            client.wait_for("/antiphon/event/loaded", timeout_s=30)
            idle = round_trips(client, args.pings // 3, args.rate_hz)
            client.send("/antiphon/answer/start")
            time.sleep(1.0)
            busy = round_trips(client, args.pings, args.rate_hz)
            status = wait_status(client, "answer")
            client.send("/antiphon/quit")
            serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                serve.kill()
            jack.stop()
            log.close()
    mode = "realtime" if realtime_allowed() else "no realtime"
    print(f"OSC ping -> pong on 127.0.0.1, jackd dummy 48 kHz / 256 frames ({mode}), model {Path(args.model).name}")
    print(f"{'state':>10} {'pings':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    for name, rtt in (("idle", idle), ("answering", busy)):
        ms = rtt * 1e3
        print(f"{name:>10} {len(ms):6d} {np.median(ms):10.3f} {np.percentile(ms, 99):8.3f} {ms.max():8.3f}")
    print(f"while answering: steps {status[9]}, compute p50 {status[3]:.1f} ms p99 {status[4]:.1f} ms, xruns {status[2]}, "
          f"p99 target 2 ms: {'met' if np.percentile(busy * 1e3, 99) <= 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
