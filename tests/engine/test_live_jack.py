"""Live engine through a real JACK server (dummy driver): a take played in, the answer recorded out.

jackd runs with the dummy backend (real callback timing, no sound card). `antiphon serve` and a
player process (tests/engine/jack_player.py) are both JACK clients; the test wires player out ->
agent in and agent out -> player in with jack_connect, like a studio patchbay.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from agent.audio_io import PERCEPTION_RATE_HZ, read_mono, resample
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal
from tests.engine.jack_session import AGENT_CLIENT, PLAYER, PLAYER_CLIENT, check_xruns, patch_player_to_agent, start_jackd, stop_jackd, wait_port

pytestmark = pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd2 is installed by scripts/setup.sh")


@pytest.fixture(scope="module")
def jack_server(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("jackd") / "jackd.log"
    proc = start_jackd(log=log)
    yield log
    stop_jackd(proc)


def test_live_answer_through_jack(jack_server, trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    take = session_tone_pairs / "piece2" / "melody.flac"  # held out, 12 s
    trace_dir = tmp_path / "live"
    serve = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--model", str(trained), "--corpus", str(tone_corpus), "--device", "system",
         "--duration-s", "19", "--status-every-s", "1", "--temperature", "0", "--trace-dir", str(trace_dir), "--no-osc"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_port(f"{AGENT_CLIENT}:in_0", give_up=lambda: serve.poll() is not None)
    assert serve.poll() is None, serve.communicate()[1]
    recording = tmp_path / "recorded.wav"
    player = subprocess.Popen([sys.executable, str(PLAYER), str(take), str(recording), "3", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_port(f"{PLAYER_CLIENT}:in_0", give_up=lambda: player.poll() is not None)
    patch_player_to_agent()
    _, player_err = player.communicate(timeout=60)
    assert player.returncode == 0, player_err
    _, serve_err = serve.communicate(timeout=60)
    assert serve.returncode == 0, serve_err

    final = [line for line in serve_err.splitlines() if line.startswith("stopped:")][-1]
    status = json.loads((trace_dir / "live-trace.json").read_text())["status"]
    xruns = int(re.search(r"xruns (\d+) ", final).group(1))
    check_xruns(jack_server, xruns, f"last at callback {status['last_xrun_callback']} of {status['callbacks']}: {final}")
    assert re.search(r"underruns 0 ", final), final
    assert re.search(r"skipped 0 ", final), final

    recorded, _ = sf.read(recording, dtype="float32")
    answer = recorded[int(3.5 * 48_000) : int(14.5 * 48_000)]
    assert np.sqrt(np.mean(answer**2)) > 0.01, "the answer is silent"

    # made of corpus grains: 30 ms windows across the answer are found in the corpus audio. A window
    # that straddles a crossfaded joint (20 ms every 250 ms slot) is a mix of two grains and does not
    # match, so about a fifth of them are expected to fail: at least half must match.
    bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
    memory = np.concatenate([resample(a, corpus.audio_rate_hz, 48_000) for a in corpus.audio])
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
    assert len(live) >= 60
    assert [c["input_label"] for c in live] == [s.input_label for s in rehearsed[: len(live)]]
    assert [c["played_label"] for c in live] == [s.played_label for s in rehearsed[: len(live)]]
