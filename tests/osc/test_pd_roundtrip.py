"""A real Pure Data process (headless) as the OSC client: it sends commands with oscformat/netsend
and prints what it receives through netreceive/oscparse; the test reads Pd's output as it comes,
until what it waits for arrives or a deadline passes."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.osc.table import OUTGOING

pytestmark = pytest.mark.real_program("pd", "puredata-core")

DEADLINE_S = 30.0

# Pd's file format: objects are numbered in order of appearance; "#X connect a outlet b inlet".
PATCH = """#N canvas 0 50 700 400 12;
#X obj 10 10 loadbang;
#X msg 10 40 connect 127.0.0.1 {server};
#X obj 10 200 netsend -u -b;
#X obj 200 10 delay 300;
#X msg 200 40 set antiphon register \\, list {listen} \\, set antiphon answer temperature \\, list 0.3 \\, set antiphon answer temperature \\, list 9 \\, set antiphon answer mute \\, list 1 \\, set antiphon status \\, list \\, set antiphon nobody start \\, list;
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


class PdOutput:
    """Pd's output lines, read in a thread as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        self.thread.start()

    def got(self) -> list[str]:
        """The messages Pd received, as it prints symbols (spaces and commas escaped)."""
        return [line.rstrip("\n").replace("\\ ", " ").replace("\\,", ",") for line in list(self.lines) if line.startswith("pd-got:")]

    def text(self) -> str:
        return "".join(self.lines)


def stop_pd(pd: subprocess.Popen, output: PdOutput) -> None:
    """Stop Pd and let the reader thread, which alone reads Pd's stdout, read it to the end."""
    pd.terminate()
    pd.wait(timeout=10)
    output.thread.join(timeout=10)
    if not output.thread.is_alive():
        pd.stdout.close()


def start_pd(patch: Path, server_port: int) -> tuple[subprocess.Popen, PdOutput]:
    """Pd with the patch, listening on a port the kernel just had free; if another process took it
    meanwhile, Pd says so at once ("listen failed") and it starts again on another."""
    for _ in range(5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            listen = probe.getsockname()[1]
        patch.write_text(PATCH.format(server=server_port, listen=listen))
        pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = PdOutput(pd)
        end = time.monotonic() + 2.0
        while time.monotonic() < end and "listen failed" not in output.text() and pd.poll() is None:
            time.sleep(0.05)
        if "listen failed" not in output.text():
            return pd, output
        stop_pd(pd, output)
    raise AssertionError(f"Pd could not listen on a free port in 5 tries: {output.text()}")


def test_pd_round_trip(server, tmp_path: Path) -> None:
    srv, _ = server
    pd, output = start_pd(tmp_path / "roundtrip.pd", srv.address[1])
    voice = srv.engine.voice("answer")
    expected = [
        "pd-got: antiphon event set answer temperature 0.3",
        "pd-got: antiphon event set answer mute 1",
        "pd-got: antiphon error /antiphon/answer/temperature value out of range: 9 (allowed 0 to 5)",
        "pd-got: antiphon error /antiphon/nobody/start no agent named 'nobody' (agents: answer, second)",
    ]
    try:
        end = time.monotonic() + DEADLINE_S
        while not all(e in output.got() for e in expected):  # Pd starts, sends after 300 ms; the server answers
            assert pd.poll() is None and time.monotonic() < end, f"Pd got {output.got()}; its output: {output.text()}"
            time.sleep(0.05)
        while not any(g.startswith("pd-got: antiphon status answer ") for g in output.got()):
            assert time.monotonic() < end, f"no status reached Pd: {output.text()}"
            srv.send_status()  # what the status thread sends every second, sent now
            time.sleep(0.2)
    finally:
        stop_pd(pd, output)
    got = output.got()
    # commands applied by the engine (the confirmations are sent once they are)
    assert voice.agent.config.temperature == pytest.approx(0.3) and voice.agent.config.muted, got
    # status received by Pd: agent name and the table's arguments
    statuses = [g for g in got if g.startswith("pd-got: antiphon status answer ")]
    assert statuses and all(len(g.split()) == 3 + len(OUTGOING["status"].args) for g in statuses), got
