"""Live engine through a real JACK server (dummy driver): a take played in, the answer recorded out.

jackd runs with the dummy backend (real callback timing, no sound card) under a name of its own.
`antiphon serve` and a player process (tests/engine/jack_player.py) are both its clients; the test
wires player out -> agent in and agent out -> player in with jack_connect, like a studio patchbay,
then tells the player to play, and stops the server (Ctrl-C) once the player is done.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal
from tests.engine.jack_session import check_xruns, play_through_serve, start_jackd

pytestmark = pytest.mark.real_program("jackd", "jackd2")

RATE_HZ = 48_000
BLOCK_FRAMES = 256  # frames per callback of the agent's stream (serve --block-frames)
TAIL_S = 2.0


def test_live_answer_through_jack(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    take = session_tone_pairs / "piece2" / "melody.flac"  # held out, 12 s
    trace_dir = tmp_path / "live"
    recording = tmp_path / "recorded.wav"
    jack = start_jackd(log=tmp_path / "jackd.log")
    try:
        run = play_through_serve(jack, ["--model", str(trained), "--corpus", str(tone_corpus), "--block-frames", str(BLOCK_FRAMES),
                                        "--status-every-s", "1", "--temperature", "0", "--trace-dir", str(trace_dir), "--no-osc"],
                                 take, recording, tail_s=TAIL_S, serve_log=tmp_path / "serve.log")
    finally:
        jack.stop()

    final = [line for line in run.serve_log.splitlines() if line.startswith("stopped:")][-1]
    status = json.loads((trace_dir / "live-trace.json").read_text())["status"]
    xruns = int(re.search(r"xruns (\d+) ", final).group(1))
    check_xruns(jack.log, xruns, f"last at callback {status['last_xrun_callback']} of {status['callbacks']}: {final}")
    assert re.search(r"underruns 0 ", final), final
    assert re.search(r"skipped 0 ", final), final
    take_start = run.take_start_frame

    recorded, _ = sf.read(recording, dtype="float32")
    answer = recorded[take_start + int(0.5 * RATE_HZ) : take_start + int(11.5 * RATE_HZ)]  # from half a second into the take
    assert np.sqrt(np.mean(answer**2)) > 0.01, "the answer is silent"

    # made of corpus grains: 30 ms windows across the answer are found in the corpus audio. A window
    # that straddles a crossfaded joint (20 ms every 250 ms slot) is a mix of two grains and does not
    # match, so about a fifth of them are expected to fail: at least half must match.
    bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
    memory = np.concatenate([read_mono(corpus.path / p["audio"], RATE_HZ)[0] for p in corpus.manifest["pieces"]])
    energy = np.concatenate([[0.0], np.cumsum(memory.astype(np.float64) ** 2)])
    found = loud = 0
    for start in np.linspace(0, len(answer) - 1440, 24).astype(int):
        w = answer[start : start + 1440].astype(np.float64)
        if np.sqrt(np.mean(w**2)) < 0.01:
            continue
        loud += 1
        corr = fftconvolve(memory, w[::-1], mode="valid")
        norms = np.sqrt((energy[len(w) :] - energy[: -len(w)]) * np.sum(w**2))
        found += int(np.max(corr / np.maximum(norms, 1e-9)) > 0.98)
    assert loud >= 12 and found >= loud / 2, f"only {found} of {loud} windows of the answer match corpus audio"

    # the same input through rehearsal gives the same label sequence
    live = json.loads((trace_dir / "live-trace.json").read_text())["chunks"]
    heard, _ = read_mono(trace_dir / "heard.wav", PERCEPTION_RATE_HZ)
    agent = AnswerAgent(bundle, corpus, perception, EngineConfig(temperature=0.0))
    rehearsed = run_rehearsal(agent, heard).steps
    # one step per hop of input all along the run, the silence before the take included: the run's
    # length is the callbacks the C callback counted (the worker does not count them), which went on
    # through the take and its tail; Ctrl-C may cut the last hop short
    run_s = status["callbacks"] * BLOCK_FRAMES / RATE_HZ
    assert run_s >= sf.info(take).duration + TAIL_S, f"the agent's stream ran {run_s:.2f} s, less than the take and its tail"
    hop_s = agent.chunking.hop_s
    assert len(live) >= int(run_s / hop_s) - 1, f"{len(live)} steps in {run_s:.2f} s of stream at hop {hop_s} s"
    assert [c["input_label"] for c in live] == [s.input_label for s in rehearsed[: len(live)]]
    assert [c["played_label"] for c in live] == [s.played_label for s in rehearsed[: len(live)]]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_a_signal_even_started_in_the_background(trained: Path, tone_corpus: Path, tmp_path: Path, sig: int) -> None:
    """A script's `antiphon serve &` ignores SIGINT (the shell's rule for background jobs); Ctrl-C sent
    with kill -INT, and kill's SIGTERM, must still stop it cleanly, its last status line written."""
    jack = start_jackd(log=tmp_path / "jackd.log")
    log = tmp_path / "serve.log"
    try:
        with open(log, "w", encoding="utf-8") as err:
            serve = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--device", "system", "--model", str(trained), "--corpus", str(tone_corpus),
                                      "--no-osc"], stdout=subprocess.DEVNULL, stderr=err, env=jack.env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        deadline = time.monotonic() + 90
        while "listening (Ctrl-C to stop)" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        serve.send_signal(sig)
        assert serve.wait(timeout=30) == 0, log.read_text()[-2000:]
        assert "stopped: xruns" in log.read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
        jack.stop()
