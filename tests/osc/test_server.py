"""The OSC server over real UDP sockets, with a real engine whose workers run (no audio stream here:
the live test in tests/osc/test_live_osc.py adds JACK). The ``server`` fixture is in conftest.py."""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from pathlib import Path

import pytest

from agent.engine.config import EngineConfig
from agent.engine.live import StreamSettings
from agent.engine.voice import VoiceSpec
from agent.loops.loop_service import LoopService
from agent.osc.server import STATUS_LINE, OscLogForwarder, OscServer
from agent.osc.table import TABLE
from agent.serving import AgentSpec, build_engine
from tests.osc.conftest import osc_server
from tests.osc.osc_client import Client, Replies, send_windowed


def errors(messages: list) -> list[str]:
    return [args[1] for address, args in messages if address == "/antiphon/error"]


@pytest.mark.parametrize(
    ("address", "args", "types", "reason"),
    [
        ("/antiphon/answer/temperature", [9.0], None, "value out of range: 9 (allowed 0 to 5)"),
        ("/antiphon/answer/temperature", [float("nan")], "f", "value must be a finite number, got nan"),
        ("/antiphon/answer/gain", [float("inf")], "f", "db must be a finite number, got inf"),
        ("/antiphon/answer/temperature", ["hot"], None, "value must be a number, got a string"),
        ("/antiphon/answer/temperature", [], None, "wrong number of arguments: got 0, expected value (float)"),
        ("/antiphon/answer/taboo", [2.5], None, "grains must be a whole number, got 2.5"),
        ("/antiphon/answer/mute", [True], None, "on must be a number, got a boolean"),
        ("/antiphon/answer/model", [3], None, "path must be a string, got a number"),
        ("/antiphon/answer/model", ["x" * 5000], None, "path is too long (over 1024 characters)"),
        ("/antiphon/nobody/temperature", [0.5], None, "no agent named 'nobody' (agents: answer, second)"),
        ("/antiphon/answer/volume", [0.5], None, "unknown address"),
        ("/antiphon/temperature", [0.5], None, "unknown address; agent commands are /antiphon/<agent>/temperature"),
        ("/other/thing", [], None, "unknown address (every address starts with /antiphon/)"),
        ("/antiphon/answer/stop", [], None, "agent 'answer' is not started"),
        ("/antiphon/answer/record", [0], None, "agent 'answer' is not recording"),
        ("/antiphon/answer/hop", [0.05], None, "seconds out of range: 0.05 s (allowed 0.1 to 0.5 or 0 s)"),
        ("/antiphon/unregister", [9], None, "port 9 on 127.0.0.1 is not registered"),
        ("/antiphon/answer/tempo", [120.0], None, "agent 'answer' answers with grains; only an arranger agent has a tempo"),
        ("/antiphon/answer/tempo", [10.0], None, "bpm out of range: 10 bpm (allowed 30 to 300 or 0 bpm)"),
        ("/antiphon/answer/follow", [1], None, "agent 'answer' answers with grains; only an arranger agent has a follow"),
        ("/antiphon/loops/generate", [0.0, 2, 8], None, "bpm out of range: 0 bpm (allowed 40 to 240 bpm)"),
        ("/antiphon/loops/generate", [120.0, 10_000, 8], None, "bars out of range: 10000 (allowed 1 to 8)"),
        ("/antiphon/loops/generate", [120.0, 2], None, "wrong number of arguments: got 2, expected bpm (float), bars (int), count (int)"),
        ("/antiphon/loops/generate", [120.0, 2, 8], None, "loop generation is disabled on this server (start antiphon serve with --allow-loops)"),
        ("/antiphon/loops/other", [], None, "unknown address"),
    ],
)
def test_every_refusal_is_answered_with_its_reason(server, address, args, types, reason) -> None:
    srv, client = server
    before = {v.name: v.pending for v in srv.engine.voices}
    client.send(address, *args, types=types)
    got = client.wait_for("/antiphon/error")
    assert got[1] == reason
    assert len(got[0]) <= 80  # echoed addresses are shortened
    assert {v.name: v.pending for v in srv.engine.voices} == before  # nothing changed


def test_malformed_packets_are_answered(server) -> None:
    srv, client = server
    for data in [b"garbage", b"/antiphon/ping\x00\x00,i\x00\x00", b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 400), b""]:
        client.send_raw(data)
        got = client.wait_for("/antiphon/error")
        assert got[1].startswith("malformed OSC packet"), got
    client.send("/antiphon/ping", 7)
    assert client.wait_for("/antiphon/pong") == [7]


def test_settings_are_applied_by_the_worker_and_confirmed(server) -> None:
    srv, client = server
    client.send("/antiphon/register", client.port)
    client.send("/antiphon/second/temperature", 0.25)
    assert client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "temperature") == ["second", "temperature", 0.25]
    client.send("/antiphon/second/mute", 1, types="i")
    assert client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "mute") == ["second", "mute", 1.0]
    second, answer = srv.engine.voice("second"), srv.engine.voice("answer")
    assert second.agent.config.temperature == 0.25 and second.agent.config.muted
    assert answer.agent.config == EngineConfig()  # the other agent is untouched
    client.send("/antiphon/second/hop", 0.5)
    client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "hop")
    assert second.agent.chunking.hop_s == 0.5 and second.agent.renderer.slot_samples == 24_000


def test_an_agent_that_fails_stops_with_an_error_and_its_worker_goes_on(server, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception in an agent's turn (here its command handling) does not end the worker thread:
    the agent stops, the clients get the reason, and later commands are carried out."""
    srv, client = server
    client.send("/antiphon/register", client.port)
    voice = srv.engine.voice("answer")
    real = voice._apply_commands
    failures = iter([RuntimeError("boom")])

    def failing_once() -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real()

    monkeypatch.setattr(voice, "_apply_commands", failing_once)
    assert client.wait_for("/antiphon/error", where=lambda a: "boom" in a[1]) == [
        "/antiphon/answer", "agent 'answer' stopped: internal error (RuntimeError: boom)"]
    client.send("/antiphon/answer/temperature", 0.25)
    assert client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "temperature") == ["answer", "temperature", 0.25]
    assert voice._thread is not None and voice._thread.is_alive() and not voice.answering


def test_an_arranger_agent_takes_tempo_and_follow_and_refuses_model_loads(trained: Path, tone_corpus: Path) -> None:
    """An arranger beside an answer agent: /tempo and /follow are applied by its worker and confirmed;
    a model or corpus load is refused in one line (its models are chosen at start)."""
    from agent.serving import parse_agent_spec

    specs = [parse_agent_spec("name=piano,kind=arranger"), AgentSpec(VoiceSpec("answer"), trained, tone_corpus)]
    engine = build_engine(specs, EngineConfig(), StreamSettings())
    srv = OscServer(engine, port=0, reply_port=None, status_every_s=60)
    for v in engine.voices:
        v.start_worker()
    srv.start()
    client = Client(srv.address)
    try:
        client.send("/antiphon/register", client.port)
        piano = engine.voice("piano").agent
        client.send("/antiphon/piano/tempo", 96.0)
        assert client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "tempo") == ["piano", "tempo", 96.0]
        client.send("/antiphon/piano/follow", 0, types="i")
        assert client.wait_for("/antiphon/event/set", where=lambda a: a[1] == "follow") == ["piano", "follow", 0.0]
        assert piano.arranger.tempo_bpm == 96.0 and piano.arranger.follow is False
        client.send("/antiphon/piano/model", str(trained))
        assert "is an arranger" in client.wait_for("/antiphon/error")[1]
        client.send("/antiphon/status")
        status = client.wait_for("/antiphon/status", where=lambda a: a[0] == "piano")
        assert status[1] == 0  # not started
    finally:
        client.close()
        srv.close()
        for v in engine.voices:
            v.stop_worker()


def test_bundles_are_carried_out_in_order(server) -> None:
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    srv, client = server
    client.send("/antiphon/register", client.port)
    bundle = OscBundleBuilder(IMMEDIATELY)
    for value in (0.1, 0.2, 0.3):
        m = OscMessageBuilder("/antiphon/answer/top_p")
        m.add_arg(value)
        bundle.add_content(m.build())
    client.send_raw(bundle.build().dgram)
    client.wait_for("/antiphon/event/set", where=lambda a: math.isclose(a[2], 0.3, rel_tol=1e-6))
    assert math.isclose(srv.engine.voice("answer").agent.config.top_p, 0.3, rel_tol=1e-6)


def test_status_and_ping(server) -> None:
    srv, client = server
    client.send("/antiphon/status")
    statuses = [args for address, args in client.receive(1.0) if address == "/antiphon/status"]
    assert sorted(s[0] for s in statuses) == ["answer", "second"]
    assert all(len(s) == len(next(a for a in TABLE if a.command == "status" and a.direction == "out").args) for s in statuses)
    client.send("/antiphon/ping", -5)
    assert client.wait_for("/antiphon/pong") == [-5]


def test_a_bad_model_over_osc_is_refused_and_the_old_one_stays(server, tmp_path: Path) -> None:
    srv, client = server
    voice = srv.engine.voice("answer")
    old = voice.agent
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    client.send("/antiphon/answer/model", str(bad))
    reason = client.wait_for("/antiphon/error")[1]
    assert "config.json" in reason
    client.send("/antiphon/answer/corpus", str(tmp_path / "missing"))
    assert "missing" in client.wait_for("/antiphon/error")[1]
    assert voice.agent is old


def test_a_good_corpus_swaps_in_and_recording_writes_a_file(server, tone_corpus: Path, tmp_path: Path) -> None:
    srv, client = server
    client.send("/antiphon/register", client.port)
    voice = srv.engine.voice("answer")
    old = voice.agent
    client.send("/antiphon/answer/corpus", str(tone_corpus))
    assert client.wait_for("/antiphon/event/loaded", timeout_s=30) == ["answer", "corpus", str(tone_corpus)]
    assert voice.agent is not old
    client.send("/antiphon/answer/record", 1)
    on = client.wait_for("/antiphon/event/recording")
    client.send("/antiphon/answer/record", 1)
    assert "already recording" in client.wait_for("/antiphon/error")[1]
    client.send("/antiphon/answer/record", 0)
    off = client.wait_for("/antiphon/event/recording")
    assert on[1:] == [1, off[2]] and off[1] == 0 and Path(off[2]).is_file()


def test_log_lines_reach_registered_clients(server, tone_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent")  # as `antiphon serve` logs (INFO unless --quiet)
    srv, client = server
    client.send("/antiphon/register", client.port)
    client.receive(0.3)
    (tmp_path / "empty").mkdir()
    client.send("/antiphon/answer/corpus", str(tmp_path / "empty"))  # a folder the loader refuses (a missing one: the server)
    level, message = client.wait_for("/antiphon/log", where=lambda args: "refused corpus" in args[1])
    assert level == "WARNING" and "manifest.json: missing" in message
    client.send("/antiphon/answer/corpus", str(tone_corpus))
    assert client.wait_for("/antiphon/log", timeout_s=30, where=lambda args: "loaded" in args[1]) == [
        "INFO", f"agent answer: corpus {tone_corpus} loaded, in use from its next chunk"]
    # DEBUG lines, other packages' lines and the terminal's status line stay out
    logging.getLogger("agent.osc.server").debug("debug line")
    logging.getLogger("elsewhere").warning("another package")
    logging.getLogger("agent.serving").info("xruns 0", extra={STATUS_LINE: True})
    logging.getLogger("agent.serving").warning("x" * 5000)
    got = [args for address, args in client.receive(1.0) if address == "/antiphon/log"]
    assert got == [["WARNING", "x" * 1000]]


def test_log_forwarding_ends_with_the_server(trained: Path, tone_corpus: Path) -> None:
    engine = build_engine([AgentSpec(VoiceSpec("answer"), trained, tone_corpus)], EngineConfig(), StreamSettings())
    srv = OscServer(engine, port=0, reply_port=None, record_dir=None)
    srv.start()
    assert any(isinstance(h, OscLogForwarder) for h in logging.getLogger("agent").handlers)
    srv.close()
    assert not any(isinstance(h, OscLogForwarder) for h in logging.getLogger("agent").handlers)


def test_every_incoming_entry_has_a_handler(server) -> None:
    srv, client = server
    for entry in TABLE:
        if entry.direction != "in" or entry.command in ("quit",):
            continue
        sample = {"f": 0.3, "i": 1, "s": "mic"}
        args = [sample[a.type] if a.low is None or a.low <= sample[a.type] <= a.high else a.low for a in entry.args]
        client.send(entry.address_for("answer"), *args)
        for address, got in client.receive(0.5):
            assert not (address == "/antiphon/error" and "not handled" in got[1]), (entry.pattern, got)
    client.send("/antiphon/quit")
    assert srv.quit.wait(2.0)


def test_ten_thousand_hostile_packets_are_all_answered(server) -> None:
    from tests.osc.hostile_packets import hostile_packets

    srv, client = server
    client.send("/antiphon/register", client.port)
    client.receive(0.3)
    packets = hostile_packets(10_000, seed=1)
    # paced by the replies: at most 8 unanswered (one huge 60 kB packet in any 10 fits the default buffer)
    replies = Replies(client)
    try:
        send_windowed(client, replies, packets, "/antiphon/error", window=8)
        replies.wait(lambda: replies.count("/antiphon/error") >= len(packets), timeout_s=30)
        time.sleep(0.5)  # the sender and the registered port are the same socket: one reply each, none twice
        assert replies.count("/antiphon/error") == len(packets), replies.counts
    finally:
        replies.stop()
    client.send("/antiphon/ping", 1)
    assert client.wait_for("/antiphon/pong") == [1]


def test_a_burst_of_a_hundred_messages_at_once_is_all_answered(server) -> None:
    """A patch firing many messages at once: a hundred pings sent back to back, with both sockets at
    the kernel's default receive buffer (not root's 4 MB), each answered."""
    srv, client = server
    replies = Replies(client)
    try:
        for i in range(100):
            client.send("/antiphon/ping", i)
        replies.wait(lambda: replies.count("/antiphon/pong") >= 100, timeout_s=10)
    finally:
        replies.stop()


def test_a_busy_port_is_refused_in_one_line(server) -> None:
    from agent.errors import AntiphonError
    from agent.osc.server import OscServer

    srv, _ = server
    with pytest.raises(AntiphonError, match=f"cannot listen for OSC on 127.0.0.1:{srv.address[1]}"):
        OscServer(srv.engine, port=srv.address[1], reply_port=None)


def bundle_of(messages: list[bytes]) -> bytes:
    from pythonosc.osc_bundle_builder import IMMEDIATELY

    out = b"#bundle\x00" + struct.pack(">Q", IMMEDIATELY)
    for m in messages:
        out += struct.pack(">i", len(m)) + m
    return out


def received(client, quiet_s: float = 0.5, timeout_s: float = 5.0) -> list[bytes]:  # noqa: ANN001
    """Every datagram that reaches the client until ``quiet_s`` pass without one."""
    out: list[bytes] = []
    end = time.monotonic() + timeout_s
    client.sock.settimeout(quiet_s)
    while time.monotonic() < end:
        try:
            out.append(client.sock.recvfrom(65536)[0])
        except TimeoutError:
            break
    return out


def addresses(datagrams: list[bytes]) -> list[str]:
    from pythonosc.osc_packet import OscPacket

    return [m.message.address for d in datagrams for m in OscPacket(d).messages]


def test_a_bundle_of_status_requests_is_not_amplified(server) -> None:
    """The issue: a bundle of 290 /status returned 2.7 times its size, to an address anyone can write as its sender."""
    from agent.osc.server import REPLY_FACTOR
    from tests.osc.osc_client import message

    srv, client = server
    packet = bundle_of([message("/antiphon/status")] * 290)
    assert len(packet) <= 8192  # one packet the server parses
    client.send_raw(packet)
    got = received(client)
    assert sum(map(len, got)) <= REPLY_FACTOR * len(packet), (sum(map(len, got)), len(packet))
    assert sorted(addresses(got)) == ["/antiphon/status"] * 2  # one status per agent: the requests are answered once


def test_a_bundle_of_refused_messages_is_not_amplified(server) -> None:
    from agent.osc.server import REPLY_ALLOWANCE_BYTES, REPLY_FACTOR
    from tests.osc.osc_client import message

    srv, client = server
    packet = bundle_of([message("/x")] * 600)  # each answered by an error 6 times its size
    client.send_raw(packet)
    got = received(client)
    assert 0 < sum(map(len, got)) <= REPLY_FACTOR * len(packet) + REPLY_ALLOWANCE_BYTES, (sum(map(len, got)), len(packet))
    assert set(addresses(got)) == {"/antiphon/error"}
    client.send("/x")  # a tiny packet still gets its error (the allowance)
    assert client.wait_for("/antiphon/error")[1] == "unknown address (every address starts with /antiphon/)"


def test_a_bundle_of_pings_is_all_answered(server) -> None:
    from tests.osc.osc_client import message

    srv, client = server
    # 100: their datagrams fit the client's default receive buffer (a pong is no larger than its ping)
    client.send_raw(bundle_of([message("/antiphon/ping", i) for i in range(100)]))
    assert addresses(received(client)) == ["/antiphon/pong"] * 100


def test_quit_and_record_are_refused_unless_enabled(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    with osc_server(trained, tone_corpus) as (srv, client):
        client.send("/antiphon/quit")
        assert client.wait_for("/antiphon/error") == ["/antiphon/quit", "quit is disabled on this server (start antiphon serve with --allow-quit)"]
        client.send("/antiphon/answer/record", 1)
        assert client.wait_for("/antiphon/error") == [
            "/antiphon/answer/record", "recording is disabled on this server (start antiphon serve with --allow-record)"]
        client.send("/antiphon/ping", 3)
        assert client.wait_for("/antiphon/pong") == [3]
        assert not srv.quit.is_set() and srv.recorder is None


def test_paths_outside_the_allowed_folders_are_answered_like_missing_ones(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    """Over OSC any local process could make the server read or probe any file: /etc/shadow answered
    otherwise than a missing file. Now the answer is the same for both, and nothing is read."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to("/etc")
    (allowed / "shadow.wav").symlink_to("/etc/shadow")
    (allowed / "model").symlink_to(trained)  # a link out of the allowed folders is followed before the check
    sent = ["/etc", "/etc/shadow", "/etc/passwd", "/no/such/place", f"{allowed}/../../../../../etc", f"{allowed}/escape", f"{allowed}/escape/passwd",
            f"{allowed}/shadow.wav", f"{allowed}/model", f"{allowed}/missing", "../../../../../../../../etc/passwd", str(trained), "mic/../../etc"]
    with osc_server(trained, tone_corpus, allowed_dirs=(allowed, tone_corpus.parent)) as (srv, client):
        client.send("/antiphon/register", client.port)
        voice = srv.engine.voice("answer")
        old = voice.agent
        for what, noun in (("model", "model folder"), ("corpus", "corpus folder"), ("input", "input file")):
            for path in sent:
                client.send(f"/antiphon/answer/{what}", path)
                assert client.wait_for("/antiphon/error") == [f"/antiphon/answer/{what}", f"no such {noun} (or not allowed): {path}"]
        assert voice.agent is old
        client.send("/antiphon/answer/corpus", str(tone_corpus))  # inside an allowed folder: loaded
        assert client.wait_for("/antiphon/event/loaded", timeout_s=30) == ["answer", "corpus", str(tone_corpus)]
        client.send("/antiphon/answer/input", "mic")
        assert client.wait_for("/antiphon/event/loaded", timeout_s=30) == ["answer", "input", "mic"]


def test_loops_are_generated_in_the_background_and_can_be_played(trained: Path, tone_corpus: Path, tiny_loop_models, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, loop_model = tiny_loop_models
    release = threading.Event()
    real_generate = LoopService.generate

    def held(self, request):  # noqa: ANN001, ANN202 - the worker is held until the server has answered a ping
        assert release.wait(30)
        return real_generate(self, request)

    monkeypatch.setattr(LoopService, "generate", held)
    with osc_server(trained, tone_corpus, loop_model=loop_model, loops_dir=tmp_path / "loops") as (srv, client):
        client.send("/antiphon/register", client.port)
        client.send("/antiphon/loops/generate", 112.0, 1, 2)
        client.send("/antiphon/ping", 7)  # answered while the worker is still generating
        assert client.wait_for("/antiphon/pong")[0] == 7
        release.set()
        folder, count = client.wait_for("/antiphon/event/loops", timeout_s=120)
        assert count == 2 and Path(folder).parent == tmp_path / "loops"
        wavs = sorted(Path(folder).glob("*.wav"))
        assert [p.name for p in wavs] == ["loop-00-112bpm.wav", "loop-01-112bpm.wav"]
        client.send("/antiphon/answer/input", str(wavs[0]))  # a generated loop played as the performer
        assert client.wait_for("/antiphon/event/loaded", where=lambda a: a[1] == "input")[2] == str(wavs[0].resolve())


def test_a_loop_request_without_a_model_is_refused(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    with osc_server(trained, tone_corpus, loop_model=tmp_path / "none", loops_dir=tmp_path / "loops") as (srv, client):
        client.send("/antiphon/loops/generate", 120.0, 2, 8)
        assert "no loop diffusion model at" in client.wait_for("/antiphon/error")[1]
    assert not (tmp_path / "loops").exists()
