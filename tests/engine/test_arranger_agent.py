"""The live arranger agent with the shipped models: rehearsed on a rendered C-F-G-C progression,
its settings refused when wrong, and served on JACK's dummy driver to a real Pd process."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agent import paths
from agent.arranger.songs import chord_class
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.arranger_agent import ArrangerConfig, load_arranger
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal
from agent.errors import AntiphonError
from tests.arranger.progression import PROGRESSION, render_progression


@pytest.fixture(scope="module")
def progression(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_progression(tmp_path_factory.mktemp("live-arranger") / "cfgc.wav", rounds=4)


def test_the_arranger_plays_in_time_and_forecasts_the_next_chord_once_it_heard_a_phrase(progression: Path) -> None:
    """Given the tempo, rehearsed on the progression (16 bars): bars on the true bar lines, decided
    at least decide_ahead_s minus one chunk before they start; before 8 bars are heard each bar plays
    the chord heard in the bar before it (one bar of anticipation), after them the learned forecast
    names the coming chord; notes heard on the output and announced as events."""
    agent = load_arranger(ArrangerConfig(tempo_bpm=120.0), EngineConfig(), 48_000)
    agent.warm_up()
    performer, _ = read_mono(progression, rate_hz=PERCEPTION_RATE_HZ)
    result = run_rehearsal(agent, performer)
    bars = agent.decisions
    assert len(bars) >= 12, bars
    starts = np.array([b.start_s for b in bars])
    assert np.all(np.abs((starts + 0.1) % 2.0 - 0.1) < 0.12), starts  # on the 2-second bar lines
    assert min(b.ahead_s for b in bars) >= agent.arranger.decide_ahead_s - 0.1 - 1e-6
    true = [chord_class(PROGRESSION[int(round(s / 2.0)) % 4][0]) for s in starts]
    previous_bar = [chord_class(PROGRESSION[(int(round(s / 2.0)) - 1) % 4][0]) for s in starts]
    played = [b.chord for b in bars]
    assert np.mean(np.equal(played[:7], previous_bar[:7])) >= 0.7, (played, previous_bar)
    assert np.mean(np.equal(played[8:], true[8:])) >= 0.9, (played, true)
    notes = [e for s in result.steps for e in s.events if e[1] == "event/note"]
    assert len(notes) >= 4 * len(bars) and all(0 <= p < 128 and 1 <= v <= 127 and d > 0 for _, _, (p, v, d) in notes)
    assert sum(1 for s in result.steps for e in s.events if e[1] == "event/bar") == len(bars)
    first_bar = int(bars[0].start_s * 48_000)
    assert np.abs(result.answer[: first_bar - 4800]).max() < 1e-4  # silent (the synth's dither) until the first bar
    assert np.sqrt(np.mean(result.answer[first_bar:] ** 2)) > 1e-3  # then it plays


def test_arranger_settings_and_agents_refuse_bad_values() -> None:
    with pytest.raises(AntiphonError, match="mode"):
        ArrangerConfig(mode="karaoke")
    with pytest.raises(AntiphonError, match="tempo"):
        ArrangerConfig(tempo_bpm=10.0)
    with pytest.raises(AntiphonError, match="harmoniser|hears"):
        load_arranger(ArrangerConfig(mode="performer"), EngineConfig(), 48_000, chords=paths.MODELS_DIR / "pop909-chords")
    agent = load_arranger(ArrangerConfig(), EngineConfig(), 48_000)
    with pytest.raises(AntiphonError, match="hop"):
        agent.check(EngineConfig(hop_s=0.5))
    with pytest.raises(AntiphonError, match="output_lead_ms must be at most 300"):
        agent.check(EngineConfig(output_lead_ms=900.0))


def test_a_held_up_worker_keeps_the_bars_on_the_beat(progression: Path) -> None:
    """The input arrives 0.3 s at a time (the driver decides only the last of the three chunks that
    complete together, the others are skipped): the skipped chunks are still heard, so the bars stay
    on the song's bar lines, and every bar is decided before it starts."""
    from agent.engine.driver import AgentDriver
    from agent.engine.rehearsal import FileClock

    agent = load_arranger(ArrangerConfig(tempo_bpm=120.0), EngineConfig(), 48_000)
    agent.warm_up()
    performer, _ = read_mono(progression, rate_hz=PERCEPTION_RATE_HZ)
    clock = FileClock(len(performer) * 3, 768)
    driver = AgentDriver(agent, clock)
    driver.start()
    step = int(0.3 * PERCEPTION_RATE_HZ)
    for begin in range(0, len(performer), step):
        block = performer[begin : begin + step]
        clock.head = (begin + len(block)) * 3
        driver.push(block)
    assert driver.skipped > 150
    starts = np.array([b.start_s for b in agent.decisions])
    assert len(starts) >= 8 and np.all(np.abs((starts + 0.1) % 2.0 - 0.1) < 0.12), starts
    assert min(b.ahead_s for b in agent.decisions) > 0.18


PD_PATCH = """#N canvas 0 50 700 400 12;
#X obj 10 10 loadbang;
#X msg 10 40 connect 127.0.0.1 {server};
#X obj 10 200 netsend -u -b;
#X obj 200 10 delay 300;
#X msg 200 40 set antiphon register \\, list {listen} \\, set antiphon piano input \\, list {take} \\, set antiphon piano tempo \\, list 120 \\, set antiphon piano start \\, list;
#X obj 200 100 oscformat;
#X obj 200 130 list prepend send;
#X obj 200 160 list trim;
#X obj 400 10 netreceive -u -b {listen};
#X obj 400 40 oscparse;
#X obj 400 70 list trim;
#X obj 400 100 print pd-got;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 0 0 3 0;
#X connect 3 0 4 0;
#X connect 4 0 5 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 7 0 2 0;
#X connect 8 0 9 0;
#X connect 9 0 10 0;
#X connect 10 0 11 0;
"""


class TimedLines:
    """A process's output lines with the moment each arrived, read in a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend((time.monotonic(), line.rstrip("\n")) for line in iter(proc.stdout.readline, "")),
                                       daemon=True)
        self.thread.start()

    def got(self, prefix: str) -> list[tuple[float, list[str]]]:
        return [(t, line[len(prefix):].split()) for t, line in list(self.lines) if line.startswith(prefix)]


@pytest.mark.real_program("jackd", "jackd2")
@pytest.mark.real_program("pd", "puredata-core")
def test_the_arranger_notes_reach_a_real_pd_process_in_time_with_no_xrun(progression: Path, tmp_path: Path) -> None:
    """`antiphon serve` with an arranger agent on JACK's dummy driver; a headless Pd registers, gives
    it the progression as its input, sets the tempo and starts it: Pd receives the bars and their
    notes over OSC, each note when it starts to sound (spread over the bar, not in one burst), and
    the agent's callback never overran."""
    from tests.engine.jack_session import check_xruns, start_jackd
    from tests.osc.osc_client import wait_for_osc_port

    serve_log = tmp_path / "serve.log"
    jack = start_jackd(log=tmp_path / "jackd.log")
    serve = pd = None
    try:
        with open(serve_log, "w") as log_file:  # noqa: SIM115 - the server keeps its own descriptor
            serve = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--device", "system", "--osc-port", "0", "--reply-port", "0",
                                      "--allow-dir", str(progression.parent), "--status-every-s", "1", "--wait-for-start",
                                      "--agent", "name=piano,kind=arranger,mode=song"], stdout=subprocess.DEVNULL, stderr=log_file, env=jack.env)
        port = wait_for_osc_port(serve_log, serve)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            listen = probe.getsockname()[1]
        patch = tmp_path / "notes.pd"
        patch.write_text(PD_PATCH.format(server=port, listen=listen, take=progression))
        pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = TimedLines(pd)
        end = time.monotonic() + 90
        while len(output.got("pd-got: antiphon event bar piano")) < 4:
            assert serve.poll() is None and pd.poll() is None and time.monotonic() < end, (serve_log.read_text()[-3000:], output.lines[-20:])
            time.sleep(0.1)
        time.sleep(2.5)  # the last bar's notes sound
        statuses = output.got("pd-got: antiphon status piano")
        jack.check_alive("after the arranger played")
    finally:
        for proc in (pd, serve):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        jack.stop()
    bars = output.got("pd-got: antiphon event bar piano")
    notes = output.got("pd-got: antiphon event note piano")
    assert all(float(args[2]) == pytest.approx(120.0) and float(args[3]) >= 300.0 for _, args in bars), bars  # tempo, decided ahead
    assert len(notes) >= 4 * 3, notes
    assert all(0 <= int(args[0]) < 128 and 1 <= int(args[1]) <= 127 and float(args[2]) > 0 for _, args in notes), notes
    # announced as they sound: the notes after the second bar's decision arrive spread over more than a second
    second_bar = bars[1][0]
    later = [t for t, _ in notes if t > second_bar]
    assert later and max(later) - min(later) > 1.0, later
    xruns = int(statuses[-1][1][1])
    check_xruns(jack.log, xruns, f"arranger on JACK: {statuses[-1]}")
