"""The OSC server: UDP in, validated commands to the engine, status, events and errors out.

Threads: ``serve`` runs the receiving loop (one thread); a status thread sends ``/antiphon/status``
every ``status_every_s`` and ``/antiphon/event/xrun`` when the count grows; voice workers and the
loader send events through ``send_event``. Handlers never touch an agent: they validate (the table
in ``agent/osc/table.py``), then queue a command the voice's worker applies between chunks, or hand
a load to the engine's loader thread. Sending is a plain ``sendto`` on the server's socket (UDP
sends from several threads are safe). Every refused message is answered on ``/antiphon/error``
with the reason, to the sender and to the registered clients; nothing is changed by it.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder

from agent.engine.live import LiveEngine
from agent.engine.loader import Loader
from agent.engine.recorder import Recorder
from agent.engine.voice import Voice
from agent.errors import AntiphonError
from agent.osc.messages import Command, Refused, parse_datagram, resolve, shorten
from agent.osc.table import OUTGOING, PREFIX, RESERVED_NAMES, TABLE

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7400
DEFAULT_REPLY_PORT = 7401
MAX_CLIENTS = 16
RECEIVE_BUFFER_BYTES = 4 << 20
OSC_THREAD_NICE = -10
STATUS_LINE = "status_line"  # a log record's extra flag: the terminal's periodic status, not forwarded
LOG_MESSAGE_CHARS = 1000  # Max's and Pd's UDP receivers take a few kB per packet
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)  # not in Python's socket module
SETTING_COMMAND = {a.setting: a.command for a in TABLE if a.setting}
Peer = tuple[str, int]  # (host, UDP port)


def grow_receive_buffer(sock: socket.socket, size_bytes: int = RECEIVE_BUFFER_BYTES) -> None:
    """Room for bursts (a patch firing many messages at once) while workers hold the GIL.

    The kernel caps SO_RCVBUF at net.core.rmem_max (about 200 kB by default); root may force more.
    """
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size_bytes)
            return
        except OSError:
            continue


def raise_thread_priority(nice: int = OSC_THREAD_NICE) -> None:
    """Let the calling thread win the CPU over inference (where allowed: root or CAP_SYS_NICE).

    On 2 cores the worker's torch compute, the audio server and the OSC thread compete; replies
    waiting for a core are what makes OSC round-trip times spike while the agent answers.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (OSError, AttributeError) as exc:
        log.debug("OSC thread keeps its priority: %s", exc)


def check_agent_names(names: list[str]) -> None:
    for name in names:
        if not name or "/" in name or name in RESERVED_NAMES or not name.isprintable() or " " in name:
            raise AntiphonError(f"agent name '{name}' cannot be used in OSC addresses (no '/', spaces, or the names {', '.join(sorted(RESERVED_NAMES))})")


class OscLogForwarder(logging.Handler):
    """Sends the package's log lines at INFO and above to the registered clients on /antiphon/log.

    Whatever thread logs (loader, worker, OSC) sends the datagram itself; the audio callback is C and
    never logs. The server's own send failures are logged at DEBUG, below this handler's level.
    """

    def __init__(self, server: "OscServer", level: int = logging.INFO) -> None:
        super().__init__(level)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, STATUS_LINE, False):  # the terminal's status line: clients get /antiphon/status
            return
        try:
            self.server.send_event("log", record.levelname, record.getMessage()[:LOG_MESSAGE_CHARS])
        except (ValueError, TypeError, OSError):  # a bad format string in a log call must not break the caller
            self.handleError(record)


class OscServer:
    def __init__(self, engine: LiveEngine, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, reply_port: int | None = DEFAULT_REPLY_PORT,
                 record_dir: Path | None = None, status_every_s: float = 1.0) -> None:
        check_agent_names([v.name for v in engine.voices])
        self.engine = engine
        self.agents = frozenset(v.name for v in engine.voices)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise AntiphonError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from exc
        self.sock.settimeout(0.2)
        grow_receive_buffer(self.sock)
        self.address: Peer = self.sock.getsockname()
        self.clients: set[Peer] = {("127.0.0.1", reply_port)} if reply_port else set()
        self.status_every_s = status_every_s
        self.quit = threading.Event()
        self.loader = Loader()
        self.recorder = Recorder(record_dir) if record_dir is not None else None
        for v in engine.voices:
            v.notify = self._notify
        self._threads: list[threading.Thread] = []
        self._log_forwarder = OscLogForwarder(self)

    # -- sending --------------------------------------------------------------------------------
    def _send(self, address: str, args: tuple, to: set[Peer] | list[Peer]) -> None:
        builder = OscMessageBuilder(address)
        for a in args:
            builder.add_arg(int(a) if isinstance(a, bool) else a)
        data = builder.build().dgram
        for target in to:
            try:
                self.sock.sendto(data, target)
            except OSError as exc:  # a vanished client must not stop the others
                log.debug("cannot send %s to %s: %s", address, target, exc)

    def send_event(self, command: str, *args: object) -> None:
        """``/antiphon/<command>`` to the registered clients (command as in the table's outgoing entries)."""
        if command not in OUTGOING:
            raise ValueError(f"not an outgoing address: {command}")
        self._send(f"{PREFIX}/{command}", args, list(self.clients))

    def _notify(self, command: str, *args: object) -> None:
        """A voice's event (``Voice.notify``): settings are named as in the table, not as config fields."""
        if command == "event/set":
            name, field, value = args
            args = (name, SETTING_COMMAND.get(field, field), value)
        self.send_event(command, *args)

    def error(self, address: str, reason: str, sender: Peer | None) -> None:
        log.debug("refused %s: %s", shorten(address) or "(packet)", reason)
        targets = set(self.clients)
        if sender is not None:
            targets.add(sender)
        self._send(f"{PREFIX}/error", (shorten(address), reason), targets)

    def send_status(self, extra: Peer | None = None) -> None:
        targets = set(self.clients) | ({extra} if extra else set())
        for v in self.engine.voices:
            s = v.status()
            self._send(f"{PREFIX}/status", (v.name, int(s["running"]), self.engine.xruns, float(s["compute_p50_ms"]), float(s["compute_p99_ms"]),
                                            s["fallbacks"], s["input_label"], s["answer_label"], s["skipped"], s["steps"]), targets)

    # -- receiving ------------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self.serve, "antiphon-osc"), (self._status_loop, "antiphon-status")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        logging.getLogger("agent").addHandler(self._log_forwarder)
        log.info("OSC on %s:%d, replies to %s", *self.address, ", ".join(f"{h}:{p}" for h, p in sorted(self.clients)) or "senders only")

    def close(self) -> None:
        logging.getLogger("agent").removeHandler(self._log_forwarder)
        self.quit.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self.loader.close()
        if self.recorder is not None:
            self.recorder.close()
        self.sock.close()

    def serve(self) -> None:
        raise_thread_priority()
        while not self.quit.is_set():
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError as exc:  # e.g. ICMP feedback on some systems: keep serving
                log.debug("receive: %s", exc)
                continue
            self.handle(data, sender)

    def handle(self, data: bytes, sender: Peer) -> None:
        """One datagram: every message in it is carried out or refused with a reason."""
        try:
            messages = parse_datagram(data)
        except Refused as refused:
            self.error(refused.address, refused.reason, sender)
            return
        for address, args in messages:
            try:
                self.carry_out(resolve(address, args, self.agents), sender)
            except Refused as refused:
                self.error(refused.address, refused.reason, sender)
            except AntiphonError as exc:
                self.error(address, str(exc), sender)
            except Exception as exc:  # noqa: BLE001 - the server never dies from a message; the bug is logged
                log.exception("internal error on %s", shorten(address))
                self.error(address, f"internal error ({type(exc).__name__}); nothing was changed", sender)

    def carry_out(self, cmd: Command, sender: Peer) -> None:
        if cmd.agent is None:
            self._server_command(cmd, sender)
            return
        voice = self.engine.voice(cmd.agent)
        name, address = cmd.name, cmd.entry.address_for(cmd.agent)
        if cmd.entry.setting is not None:
            value = cmd.values[0]
            voice.request("config", voice.settings(**{cmd.entry.setting: bool(value) if cmd.entry.setting == "muted" else value}))
        elif name in ("start", "stop"):
            voice.request(name)
        elif name in ("model", "corpus", "input"):
            self.loader.submit(voice, name, cmd.values[0], lambda reason: self.error(address, reason, sender))
        elif name == "record":
            self._record(voice, bool(cmd.values[0]))
        else:
            raise AntiphonError(f"{name} is not handled")  # a table entry without a handler: caught by tests

    def _server_command(self, cmd: Command, sender: Peer) -> None:
        name = cmd.name
        if name == "status":
            self.send_status(extra=sender)
        elif name == "ping":
            self._send(f"{PREFIX}/pong", cmd.values, [sender])
        elif name == "register":
            client = (sender[0], cmd.values[0])
            if client not in self.clients and len(self.clients) >= MAX_CLIENTS:
                raise AntiphonError(f"too many registered clients ({MAX_CLIENTS}); unregister one first")
            self.clients.add(client)
        elif name == "unregister":
            client = (sender[0], cmd.values[0])
            if client not in self.clients:
                raise AntiphonError(f"port {cmd.values[0]} on {sender[0]} is not registered")
            self.clients.discard(client)
        elif name == "quit":
            log.info("quit requested over OSC by %s:%d", *sender)
            self.quit.set()
        else:
            raise AntiphonError(f"{name} is not handled")

    def _record(self, voice: Voice, on: bool) -> None:
        if self.recorder is None:
            raise AntiphonError("recording is off for this server (start it with --record-dir)")
        if on:
            path = self.recorder.start(voice)
        else:
            path = self.recorder.stop(voice)
        self.send_event("event/recording", voice.name, int(on), str(path))

    def _status_loop(self) -> None:
        xruns = self.engine.xruns
        while not self.quit.wait(self.status_every_s):
            self.send_status()
            if self.engine.xruns != xruns:
                xruns = self.engine.xruns
                self.send_event("event/xrun", xruns)
