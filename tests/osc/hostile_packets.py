"""Malformed and hostile OSC datagrams, each of which the server must refuse (with an error reply)."""

from __future__ import annotations

import struct

import numpy as np

from tests.osc.osc_client import message

AGENT = "a"


def _bundle(*elements: bytes, size_lie: int = 0) -> bytes:
    out = b"#bundle\x00" + b"\x00" * 7 + b"\x01"
    for e in elements:
        out += struct.pack(">i", len(e) + size_lie) + e
    return out


def hostile_packets(count: int, seed: int = 0) -> list[bytes]:
    """``count`` datagrams cycling through ten kinds of bad input, randomised by ``seed``."""
    rng = np.random.default_rng(seed)
    good = [message(f"/antiphon/{AGENT}/temperature", 0.5), message(f"/antiphon/{AGENT}/crossfade", 20.0), message("/antiphon/ping", 3)]
    kinds = [
        lambda: bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8)),  # random bytes
        lambda: good[int(rng.integers(len(good)))][: int(rng.integers(1, 12))],  # truncated inside the address
        lambda: message(f"/antiphon/{AGENT}/temperature", "hot"),  # wrong type
        lambda: message(f"/antiphon/{AGENT}/gain", b"\x00\x01\x02", types="b"),  # a blob where a float belongs
        lambda: message(f"/antiphon/{AGENT}/model", "x" * int(rng.integers(2000, 60000))),  # huge string
        lambda: message(f"/antiphon/{AGENT}/temperature", [float("nan"), float("inf"), -float("inf")][int(rng.integers(3))], types="f"),
        lambda: message(f"/antiphon/{''.join(chr(int(c)) for c in rng.integers(97, 123, 12))}/x", 1),  # unknown address
        lambda: _bundle(good[0], size_lie=int(rng.integers(1, 64))),  # bundle with a lying size
        lambda: _bundle(_bundle(_bundle(_bundle(_bundle(_bundle(_bundle(_bundle(_bundle(good[0]))))))))),  # too deep
        lambda: message(f"/antiphon/{AGENT}/taboo", 1, 2, 3),  # too many arguments
    ]
    return [kinds[i % len(kinds)]() for i in range(count)]
