"""The OSC server on a live engine (JACK dummy driver): two agents on two channels, file inputs,
recording, 10,000 hostile packets and a 10 s flood of 1,000 messages a second, a corrupt model
loaded while playing. The server must answer everything; audio must keep (about) 0 xruns."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.engine.jack_session import check_xruns, start_jackd, stop_jackd
from tests.osc.hostile_packets import hostile_packets
from tests.osc.osc_client import Client, free_port

pytestmark = pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd2 is installed by scripts/setup.sh")

FUZZ_PACKETS = 10_000
FUZZ_PER_S = 1_000
FLOOD_PER_S = 1_000
FLOOD_S = 10


class Counter:
    """Reads the client's socket in a thread (so nothing is dropped) and counts by address."""

    def __init__(self, client: Client) -> None:
        from pythonosc.osc_packet import OscPacket

        self.counts: dict[str, int] = {}
        self.last: dict[str, list] = {}
        self.statuses: dict[str, list] = {}
        self._stop = False
        client.sock.settimeout(0.1)

        def run() -> None:
            while not self._stop:
                try:
                    data, _ = client.sock.recvfrom(65536)
                except socket.timeout:
                    continue
                for m in OscPacket(data).messages:
                    a = m.message.address
                    self.counts[a] = self.counts.get(a, 0) + 1
                    self.last[a] = list(m.message.params)
                    if a == "/antiphon/status":
                        self.statuses[m.message.params[0]] = list(m.message.params)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, predicate, timeout_s: float = 20.0) -> None:  # noqa: ANN001
        end = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < end, f"timed out; counts {self.counts}, last {self.last}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop = True
        self.thread.join()


def test_two_agents_survive_fuzz_and_flood_with_no_xruns(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    port = free_port()
    log_file = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed in finally; a pipe nobody reads would block the server
    jack = start_jackd(log=tmp_path / "jackd.log")
    serve = None
    try:
        agents = [f"name={n},model={trained},corpus={tone_corpus},in={i},out={i}" for i, n in enumerate("ab")]
        serve = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--device", "system", "--channels", "2", "--osc-port", str(port), "--reply-port", "0",
             "--record-dir", str(tmp_path / "rec"), "--status-every-s", "1", "--duration-s", "120", "--wait-for-start",
             *[arg for spec in agents for arg in ("--agent", spec)]],
            stdout=subprocess.DEVNULL, stderr=log_file,
        )
        client = Client(("127.0.0.1", port))
        counter = Counter(client)
        end = time.monotonic() + 60
        while "/antiphon/status" not in counter.counts:  # the server is up once it answers
            assert serve.poll() is None and time.monotonic() < end, (tmp_path / "serve.log").read_text()
            client.send("/antiphon/register", client.port)
            time.sleep(0.5)

        # two agents, each with its own input file, started; a recording of agent a
        for name, piece in (("a", "piece2"), ("b", "piece1")):
            client.send(f"/antiphon/{name}/input", str(session_tone_pairs / piece / "melody.flac"))
        counter.wait(lambda: counter.counts.get("/antiphon/event/loaded", 0) >= 2)
        # both agents answering (inference running) through the fuzz and the flood
        client.send("/antiphon/a/start")
        client.send("/antiphon/b/start")
        client.send("/antiphon/b/gain", -6.0)
        client.send("/antiphon/a/record", 1)
        counter.wait(lambda: all(counter.statuses.get(n, [0] * 10)[9] >= 8 for n in "ab"))

        # 10,000 hostile packets, 1,000 a second, both agents answering: every one answered. The packets are
        # made before the clock starts (making them takes seconds; a paced loop that made them on the
        # way sent the first thousands as one burst, and the kernel dropped what overflowed the socket).
        packets = hostile_packets(FUZZ_PACKETS)
        errors_before = counter.counts.get("/antiphon/error", 0)
        start = time.monotonic()
        for i, packet in enumerate(packets):
            client.send_raw(packet)
            if i % 20 == 19:
                time.sleep(max(0.0, start + (i + 1) / FUZZ_PER_S - time.monotonic()))
        fuzz_s = time.monotonic() - start
        counter.wait(lambda: counter.counts.get("/antiphon/error", 0) - errors_before >= FUZZ_PACKETS, timeout_s=10)
        time.sleep(0.5)
        answered = counter.counts.get("/antiphon/error", 0) - errors_before
        assert answered == FUZZ_PACKETS, answered  # one reply each, none twice

        # a flood: 1,000 valid messages a second for 10 s (settings, status requests, pings)
        pongs_before = counter.counts.get("/antiphon/pong", 0)
        flood = [("/antiphon/a/temperature", 0.6), ("/antiphon/b/top_p", 0.8), ("/antiphon/ping", 1), ("/antiphon/a/crossfade", 25.0)]
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < FLOOD_S:
            target = int((time.monotonic() - start) * FLOOD_PER_S)
            while sent < target:
                address, value = flood[sent % len(flood)]
                client.send(address, value)
                sent += 1
            time.sleep(0.002)
        assert sent >= FLOOD_PER_S * FLOOD_S - 5
        pings = sent // 4
        counter.wait(lambda: counter.counts.get("/antiphon/pong", 0) - pongs_before >= pings, timeout_s=20)  # every ping answered

        # a corrupt model over OSC: refused, and agent a keeps playing
        bad = tmp_path / "corrupt-model"
        shutil.copytree(trained, bad)
        (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:100])
        steps_before = counter.statuses["a"][9]
        errors_before = counter.counts.get("/antiphon/error", 0)
        client.send("/antiphon/a/model", str(bad))
        counter.wait(lambda: counter.counts.get("/antiphon/error", 0) > errors_before)
        assert "model.safetensors" in counter.last["/antiphon/error"][1]
        counter.wait(lambda: counter.statuses["a"][9] >= steps_before + 12)

        client.send("/antiphon/a/record", 0)
        counter.wait(lambda: counter.last.get("/antiphon/event/recording", [None, 1])[1] == 0)
        recording = Path(counter.last["/antiphon/event/recording"][2])
        client.send("/antiphon/status")
        time.sleep(1.0)
        statuses = dict(counter.statuses)
        client.send("/antiphon/quit")
        serve.wait(timeout=30)
        counter.stop()
        client.close()
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
        stop_jackd(jack)
        log_file.close()

    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()
    print(f"fuzz: {answered} of {FUZZ_PACKETS} hostile packets answered in {fuzz_s:.1f} s")
    for name in "ab":
        running, xruns, fallbacks, skipped, steps = (statuses[name][i] for i in (1, 2, 5, 8, 9))
        assert running == 1 and steps >= 40 and skipped == 0, statuses[name]
        check_xruns(tmp_path / "jackd.log", xruns, f"during the fuzz and flood: {statuses[name]}")
    # the recording: the input file on the left, a non-silent answer on the right
    audio, rate = sf.read(recording, dtype="float32")
    assert audio.shape[1] == 2 and rate == 48_000 and len(audio) > 10 * rate
    assert np.sqrt(np.mean(audio[:, 0] ** 2)) > 0.01 and np.sqrt(np.mean(audio[-5 * rate :, 1] ** 2)) > 0.01
