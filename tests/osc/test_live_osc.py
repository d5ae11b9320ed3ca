"""The OSC server on a live engine (JACK dummy driver): two agents on two channels, file inputs,
recording, 10,000 hostile packets and a 10 s flood of 1,000 messages a second, a corrupt model
loaded while playing. The server must answer everything; audio must have no overrun of its own.

The packets are paced by the replies (a few unanswered at a time), so that no socket ever holds
more than the kernel's default receive buffer, whoever runs the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.engine.jack_session import check_xruns, start_jackd
from tests.osc.hostile_packets import hostile_packets
from tests.osc.osc_client import Client, Replies, send_windowed, wait_for_osc_port

pytestmark = pytest.mark.real_program("jackd", "jackd2")

FUZZ_PACKETS = 10_000
FUZZ_PER_S = 1_000
FLOOD_PER_S = 1_000
FLOOD_S = 10
WINDOW = 8  # unanswered packets at most (one 60 kB hostile packet in any ten: well inside the default buffer)


def test_two_agents_survive_fuzz_and_flood_with_no_xruns(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    serve_log = tmp_path / "serve.log"
    jack = start_jackd(log=tmp_path / "jackd.log")
    serve = None
    try:
        agents = [f"name={n},model={trained},corpus={tone_corpus},in={i},out={i}" for i, n in enumerate("ab")]
        with open(serve_log, "w") as log_file:  # noqa: SIM115 - the server keeps its own descriptor; a pipe nobody reads would block it
            serve = subprocess.Popen(
                [sys.executable, "-m", "agent", "serve", "--device", "system", "--channels", "2", "--osc-port", "0", "--reply-port", "0",
                 "--record-dir", str(tmp_path / "rec"), "--allow-record", "--allow-quit", "--allow-dir", str(tmp_path),
                 "--allow-dir", str(session_tone_pairs), "--status-every-s", "1", "--wait-for-start",
                 *[arg for spec in agents for arg in ("--agent", spec)]],
                stdout=subprocess.DEVNULL, stderr=log_file, env=jack.env,
            )
        client = Client(("127.0.0.1", wait_for_osc_port(serve_log, serve)))
        counter = Replies(client)
        end = time.monotonic() + 60
        while "/antiphon/status" not in counter.counts:  # registered once a status arrives
            assert serve.poll() is None and time.monotonic() < end, serve_log.read_text()
            client.send("/antiphon/register", client.port)
            time.sleep(0.5)

        # two agents, each with its own input file, started; a recording of agent a
        for name, piece in (("a", "piece2"), ("b", "piece1")):
            client.send(f"/antiphon/{name}/input", str(session_tone_pairs / piece / "melody.flac"))
        counter.wait(lambda: counter.count("/antiphon/event/loaded") >= 2)
        # both agents answering (inference running) through the fuzz and the flood
        client.send("/antiphon/a/start")
        client.send("/antiphon/b/start")
        client.send("/antiphon/b/gain", -6.0)
        client.send("/antiphon/a/record", 1)
        counter.wait(lambda: all(counter.statuses.get(n, [0] * 10)[9] >= 8 for n in "ab"))

        # 10,000 hostile packets, up to 1,000 a second, both agents answering: every one answered once
        packets = hostile_packets(FUZZ_PACKETS)
        errors_before = counter.count("/antiphon/error")
        fuzz_s = send_windowed(client, counter, packets, "/antiphon/error", window=WINDOW, per_s=FUZZ_PER_S)
        counter.wait(lambda: counter.count("/antiphon/error") - errors_before >= FUZZ_PACKETS, timeout_s=10)
        time.sleep(0.5)
        answered = counter.count("/antiphon/error") - errors_before
        assert answered == FUZZ_PACKETS, answered  # one reply each, none twice

        # a flood: 1,000 valid messages a second for 10 s (settings, status requests, pings); settings are
        # confirmed between chunks, pings at once: a ping waits until the ping before the last is answered
        pongs_before = counter.count("/antiphon/pong")
        flood = [("/antiphon/a/temperature", 0.6), ("/antiphon/b/top_p", 0.8), ("/antiphon/ping", 1), ("/antiphon/a/crossfade", 25.0)]
        start = time.monotonic()
        sent = pings = 0
        while time.monotonic() - start < FLOOD_S:
            target = int((time.monotonic() - start) * FLOOD_PER_S)
            while sent < target:
                address, value = flood[sent % len(flood)]
                if address == "/antiphon/ping":
                    counter.wait(lambda: pings - (counter.count("/antiphon/pong") - pongs_before) <= 1, timeout_s=10)
                    pings += 1
                client.send(address, value)
                sent += 1
            time.sleep(0.002)
        assert sent >= FLOOD_PER_S * FLOOD_S - 5
        counter.wait(lambda: counter.count("/antiphon/pong") - pongs_before >= pings, timeout_s=20)  # every ping answered

        # a corrupt model over OSC: refused, and agent a keeps playing
        bad = tmp_path / "corrupt-model"
        shutil.copytree(trained, bad)
        (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:100])
        steps_before = counter.statuses["a"][9]
        errors_before = counter.count("/antiphon/error")
        client.send("/antiphon/a/model", str(bad))
        counter.wait(lambda: counter.count("/antiphon/error") > errors_before)
        assert "model.safetensors" in counter.last["/antiphon/error"][1]
        counter.wait(lambda: counter.statuses["a"][9] >= steps_before + 12)

        client.send("/antiphon/a/record", 0)
        counter.wait(lambda: counter.last.get("/antiphon/event/recording", [None, 1])[1] == 0)
        recording = Path(counter.last["/antiphon/event/recording"][2])
        statuses_before = counter.count("/antiphon/status")
        client.send("/antiphon/status")
        counter.wait(lambda: counter.count("/antiphon/status") >= statuses_before + 2)  # both agents' status, after the recording
        statuses = dict(counter.statuses)
        jack.check_alive("after the fuzz and the flood")
        client.send("/antiphon/quit")
        serve.wait(timeout=30)
        counter.stop()
        client.close()
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        jack.stop()

    assert serve.returncode == 0, serve_log.read_text()
    print(f"fuzz: {answered} of {FUZZ_PACKETS} hostile packets answered in {fuzz_s:.1f} s")
    for name in "ab":
        running, xruns, fallbacks, skipped, steps = (statuses[name][i] for i in (1, 2, 5, 8, 9))
        assert running == 1 and steps >= 40 and skipped == 0, statuses[name]
        check_xruns(jack.log, xruns, f"during the fuzz and flood: {statuses[name]}")
    # the recording: the input file on the left, a non-silent answer on the right
    audio, rate = sf.read(recording, dtype="float32")
    assert audio.shape[1] == 2 and rate == 48_000 and len(audio) > 10 * rate
    assert np.sqrt(np.mean(audio[:, 0] ** 2)) > 0.01 and np.sqrt(np.mean(audio[-5 * rate :, 1] ** 2)) > 0.01
