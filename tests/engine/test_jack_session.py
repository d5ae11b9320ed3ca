"""The reading of jackd's log that the live tests and the engine bench report xruns with, and the live tests' verdict on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.engine.jack_session import SERVER_NAMES, XrunEvent, check_xruns, start_jackd, xrun_account, xrun_events

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


STALL = """JackEngine::XRun: client = PortAudio was not finished, state = Triggered
JackEngine::XRun: client = PortAudio-01 was not finished, state = Triggered
JackAudioDriver::ProcessGraphAsyncMaster: Process error
"""


def test_machine_stalls_are_tolerated_whatever_their_number(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    log.write_text(STALL * 3 + "JackTimedDriver::Process XRun = 6100 usec\n")
    assert len(xrun_events(log)) == 4 and all(e.machine_stall for e in xrun_events(log))
    with pytest.warns(UserWarning, match="4 xruns, tolerated: jackd logged 4 xruns: 4 machine stalls"):
        check_xruns(log, 4, "test")


def test_one_overrun_of_the_agents_own_callback_fails(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    running = "JackEngine::XRun: client = PortAudio was not finished, state = Running\nJackAudioDriver::ProcessGraphAsyncMaster: Process error\n"
    log.write_text(STALL + running)
    with pytest.raises(AssertionError, match="1 overruns of PortAudio's own callback"):
        check_xruns(log, 1, "test")
    # the player's overrun is not the agent's
    log.write_text(STALL + running.replace("PortAudio", "PortAudio-01"))
    with pytest.warns(UserWarning, match="0 overruns of PortAudio's callback"):
        check_xruns(log, 2, "test")


LATE = "JackEngine::XRun: client PortAudio finished after current callback\nJackAudioDriver::ProcessGraphAsyncMaster: Process error\n"


def test_a_late_finish_is_reported_but_not_failed(tmp_path: Path) -> None:
    # jackd logs "finished after current callback" as well when the OS woke the client's thread late
    log = tmp_path / "jackd.log"
    log.write_text(LATE)
    (event,) = xrun_events(log)
    assert event.finished_late("PortAudio") and not event.overran("PortAudio") and not event.machine_stall
    with pytest.warns(UserWarning, match="0 overruns of PortAudio's callback, 1 late finishes of PortAudio"):
        check_xruns(log, 1, "test")
    assert not event.finished_late("PortAudio-01")
    # a late finish hides neither an overrun in the same run nor more xruns counted by the agent than jackd notified
    log.write_text(LATE + "JackEngine::XRun: client = PortAudio was not finished, state = Running\nJackAudioDriver::ProcessGraphAsyncMaster: Process error\n")
    with pytest.raises(AssertionError, match="1 overruns of PortAudio's own callback .* 1 late finishes of PortAudio"):
        check_xruns(log, 2, "test")
    log.write_text(LATE)
    with pytest.raises(AssertionError, match="the agent counted 2 xruns, jackd notified 1"):
        check_xruns(log, 2, "test")


def test_xruns_that_jackd_did_not_notify_fail(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    with pytest.raises(AssertionError, match="the agent counted 1 xruns, jackd notified 0"):
        check_xruns(log, 1, "test")
    log.write_text(STALL)  # one xrun: two late clients, two notifications
    with pytest.raises(AssertionError, match="the agent counted 3 xruns, jackd notified 2"):
        check_xruns(log, 3, "test")


def test_a_late_timer_without_late_clients_is_an_xrun_of_its_own(tmp_path: Path) -> None:
    log = tmp_path / "jackd.log"
    log.write_text("JackTimedDriver::Process XRun = 40 usec\nJackTimedDriver::Process XRun = 50 usec\n" + STALL)
    assert xrun_events(log) == [XrunEvent(40, ()), XrunEvent(50, (("PortAudio", "Triggered"), ("PortAudio-01", "Triggered")))]
    assert [e.notifications for e in xrun_events(log)] == [1, 3]


def registered(name: str) -> bool:
    """Whether jack2's server registry holds an entry for ``name`` (live or left by a killed server)."""
    registry = Path("/dev/shm/jack-shm-registry")
    return registry.is_file() and f":{name}:".encode() in registry.read_bytes()


@pytest.mark.real_program("jackd", "jackd2")
def test_each_server_has_a_name_of_its_own_and_a_dead_one_is_noticed(tmp_path: Path) -> None:
    a = start_jackd(log=tmp_path / "a.log", realtime=False)
    b = None
    try:
        b = start_jackd(log=tmp_path / "b.log", realtime=False)
        assert a.name != b.name and {a.name, b.name} <= set(SERVER_NAMES) and a.alive() and b.alive()
        # a connection made on one server is not seen on the other: each client reaches its own server
        subprocess.run(["jack_connect", "system:capture_1", "system:playback_1"], env=a.env, check=True, capture_output=True, timeout=20)
        listed = [subprocess.run(["jack_lsp", "-c", "system:capture_1"], env=s.env, capture_output=True, text=True, timeout=20).stdout
                  for s in (a, b)]
        assert "system:playback_1" in listed[0] and "system:playback_1" not in listed[1], listed
        b.proc.terminate()  # jackd dies under a test (SIGTERM frees its registry entry): waiting on it fails at once, not at a deadline
        b.proc.wait(timeout=10)
        with pytest.raises(AssertionError, match=f"jackd {b.name} exited"):
            b.wait_port("PortAudio:in_0", timeout_s=60)
        a.check_alive()
    finally:
        a.stop()
        if b is not None:
            b.stop()
    assert not a.alive()
    assert not registered(a.name) and not registered(b.name)  # a server that stops frees its entry


@pytest.mark.real_program("jackd", "jackd2")
def test_the_name_of_a_killed_server_is_reused_and_its_entry_freed(tmp_path: Path) -> None:
    # a killed jackd leaves its entry in jack2's registry (8 at most) and its files in /dev/shm; the
    # next server takes the first free name, the killed one's, which reclaims them
    killed = start_jackd(log=tmp_path / "killed.log", realtime=False)
    killed.proc.kill()
    killed.proc.wait(timeout=10)
    assert registered(killed.name)
    server = start_jackd(log=tmp_path / "next.log", realtime=False)
    try:
        assert server.name == killed.name, (server.name, killed.name)
    finally:
        server.stop()
    assert not registered(killed.name)
    assert not list(Path("/dev/shm").glob(f"jack*{killed.name}*")), sorted(Path("/dev/shm").iterdir())
