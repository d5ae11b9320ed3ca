"""A real Pure Data process (headless) as the OSC client: it sends commands with oscformat/netsend
and prints what it receives through netreceive/oscparse; the test reads Pd's stderr."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.osc.osc_client import free_port

pytestmark = pytest.mark.skipif(shutil.which("pd") is None, reason="puredata-core is installed by scripts/setup.sh")

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


def test_pd_round_trip(server, tmp_path: Path) -> None:
    srv, _ = server
    listen = free_port()
    patch = tmp_path / "roundtrip.pd"
    patch.write_text(PATCH.format(server=srv.address[1], listen=listen))
    pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    voice = srv.engine.voice("answer")
    try:
        time.sleep(3.0)  # Pd starts, connects, sends after 300 ms; the server answers at once
        srv.send_status()  # what the status thread sends every second, sent now
        time.sleep(0.5)
    finally:
        pd.terminate()
        out, _ = pd.communicate(timeout=10)
    # Pd prints symbols with their spaces and commas escaped
    got = [line.replace("\\ ", " ").replace("\\,", ",") for line in out.splitlines() if line.startswith("pd-got:")]
    # commands applied by the engine
    assert voice.agent.config.temperature == pytest.approx(0.3) and voice.agent.config.muted, out
    # confirmations, errors and status received by Pd
    assert "pd-got: antiphon event set answer temperature 0.3" in got, out
    assert "pd-got: antiphon event set answer mute 1" in got, out
    assert "pd-got: antiphon error /antiphon/answer/temperature value out of range: 9 (allowed 0 to 5)" in got, out
    assert "pd-got: antiphon error /antiphon/nobody/start no agent named 'nobody' (agents: answer, second)" in got, out
    statuses = [g for g in got if g.startswith("pd-got: antiphon status answer ")]
    assert statuses and all(len(g.split()) == 3 + 10 for g in statuses), out
