"""How late does this machine wake a realtime thread? The floor under any JACK client's xruns.

    .venv/bin/python bench/wakeup_latency.py [--seconds 120] [--load 2]

A SCHED_FIFO thread (priority 70, as jackd's clients here) sleeps to absolute deadlines one
256-frame block apart (5.33 ms at 48 kHz) and records how late it wakes, with --load busy
processes running meanwhile (0 = idle machine). A JACK client woken later than about one block
cannot finish in time whatever its code does: each wake-up that late is a potential xrun.
Needs realtime scheduling (root or an rtprio limit). Steal time (the hypervisor running another
guest on our virtual CPU) is read from /proc/stat.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np

BLOCK_S = 256 / 48_000


def _busy(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def _steal_jiffies() -> int:
    with open("/proc/stat", encoding="ascii") as handle:
        fields = handle.readline().split()
    return int(fields[8]) if len(fields) > 8 else 0


def measure(seconds: float) -> np.ndarray:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(70))
    late = []
    deadline = time.monotonic()
    end = deadline + seconds
    while deadline < end:
        deadline += BLOCK_S
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        late.append(time.monotonic() - deadline)
    return 1e3 * np.array(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--load", type=int, default=0, help="busy processes running meanwhile")
    args = parser.parse_args()
    stop_at = time.monotonic() + args.seconds + 1.0
    workers = [multiprocessing.Process(target=_busy, args=(stop_at,), daemon=True) for _ in range(args.load)]
    for w in workers:
        w.start()
    steal0 = _steal_jiffies()
    try:
        late = measure(args.seconds)
    except PermissionError:
        raise SystemExit("realtime scheduling is not allowed here (needs root or an rtprio limit)") from None
    steal_s = (_steal_jiffies() - steal0) / os.sysconf("SC_CLK_TCK")
    for w in workers:
        w.join()
    block_ms = 1e3 * BLOCK_S
    print(f"SCHED_FIFO 70 wake-ups every {block_ms:.2f} ms for {args.seconds:.0f} s, {args.load} busy process(es), {os.cpu_count()} CPUs")
    print(f"lateness: median {np.median(late):.3f} ms, p99 {np.percentile(late, 99):.3f} ms, p99.99 {np.percentile(late, 99.99):.3f} ms, max {late.max():.3f} ms")
    print(f"wake-ups later than 1 ms: {(late > 1).sum()}, 2 ms: {(late > 2).sum()}, half a block: {(late > block_ms / 2).sum()}, "
          f"a block: {(late > block_ms).sum()} of {len(late)}; steal time meanwhile {steal_s:.2f} s")


if __name__ == "__main__":
    main()
