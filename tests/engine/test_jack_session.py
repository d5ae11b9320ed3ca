"""The reading of jackd's log that the live tests and the engine bench report xruns with."""

from __future__ import annotations

from pathlib import Path

from tests.engine.jack_session import XrunEvent, xrun_account, xrun_events

LOG = """JACK server starting in realtime mode with priority 70
JackTimedDriver::Process XRun = 43 usec
JackEngine::XRun: client = PortAudio was not finished, state = Triggered
JackEngine::XRun: client = PortAudio-01 was not finished, state = Triggered
JackAudioDriver::ProcessGraphAsyncMaster: Process error
JackEngine::XRun: client = PortAudio was not finished, state = Running
JackEngine::XRun: client = PortAudio-01 was not finished, state = Triggered
JackAudioDriver::ProcessGraphAsyncMaster: Process error
Jack main caught signal 15
"""


def test_xruns_are_told_apart_as_machine_stalls_or_overruns(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    log.write_text(LOG)
    first, second = xrun_events(log)
    assert first == XrunEvent(43, (("PortAudio", "Triggered"), ("PortAudio-01", "Triggered")))
    assert first.machine_stall and not first.overran("PortAudio")
    assert not second.machine_stall and second.overran("PortAudio") and not second.overran("PortAudio-01")
    assert xrun_account(xrun_events(log)).startswith("jackd logged 2 xruns: 1 machine stalls (jackd's own timer thread late in 1, or no client "
                                        "had started its cycle), 1 overruns of PortAudio's callback")


def test_a_clean_or_missing_log_has_no_xruns(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    assert xrun_events(log) == []
    log.write_text("JACK server starting in realtime mode with priority 70\n")
    assert xrun_account(xrun_events(log)) == "jackd logged no xrun"
