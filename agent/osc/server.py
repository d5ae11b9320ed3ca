"""The OSC server: UDP in, validated commands to the engine, status, events and errors out.

Threads: ``serve`` runs the receiving loop (one thread); a status thread sends ``/antiphon/status``
every ``status_every_s`` and ``/antiphon/event/xrun`` when the count grows; voice workers and the
loader send events through ``send_event``. Handlers never touch an agent: they validate (the table
in ``agent/osc/table.py``), then queue a command the voice's worker applies between chunks, or hand
a load to the engine's loader thread. Sending is a plain ``sendto`` on the server's socket (UDP
sends from several threads are safe). Every refused message is answered on ``/antiphon/error``
with the reason, to the sender and to the registered clients; nothing is changed by it.

Any local process can send to the server, so it trusts no message:
- loads (model, corpus, input file) read only paths inside the allowed folders (``allowed_dirs``:
  corpora/, models/, the record folder and every ``serve --allow-dir``), checked once symlinks and
  '..' are resolved; a forbidden path is answered with the same words as a missing one;
- /antiphon/quit and /antiphon/<agent>/record are refused unless ``serve --allow-quit`` and
  ``--allow-record`` enabled them;
- replies never amplify a packet: however many /status it holds, it gets one round of status (one
  message per agent), and its other replies (pongs, errors) stop at ``REPLY_FACTOR`` times its size
  plus ``REPLY_ALLOWANCE_BYTES`` (what is over is not sent, to anyone).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from pythonosc.osc_message_builder import OscMessageBuilder

from agent import paths
from agent.engine.config import field_type, setting_fields
from agent.engine.live import LiveEngine
from agent.engine.loader import MIC, Loader
from agent.engine.recorder import Recorder
from agent.engine.voice import Voice
from agent.errors import AntiphonError
from agent.loops.diffusion_checkpoint import is_diffusion_folder
from agent.loops.loop_request import LoopRequest
from agent.loops.loop_service import LoopService
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
SETTING_FIELDS = {f.name: f for f in setting_fields()}
# The replies to one packet (pongs, errors) stop at REPLY_FACTOR times its size plus REPLY_ALLOWANCE_BYTES
# (a tiny packet still gets its error or pong); /status requests in it get one round of status, once.
REPLY_FACTOR = 2
REPLY_ALLOWANCE_BYTES = 512
# what a load command reads: its name in errors, and how an existing one looks
LOADABLE: dict[str, tuple[str, Callable[[Path], bool]]] = {"model": ("model folder", Path.is_dir), "corpus": ("corpus folder", Path.is_dir),
                                                          "input": ("input file", Path.is_file)}
QUIT_DISABLED = "quit is disabled on this server (start antiphon serve with --allow-quit)"
LOOPS_DISABLED = "loop generation is disabled on this server (start antiphon serve with --allow-loops)"
RECORD_DISABLED = "recording is disabled on this server (start antiphon serve with --allow-record)"
Peer = tuple[str, int]  # (host, UDP port)


class PacketReplies:
    """What one packet may still be answered with: a byte budget (shared by all its replies but the
    status round) and whether it asked for status. Owned by the receiving thread, one per packet."""

    def __init__(self, sender: Peer, packet_bytes: int) -> None:
        self.sender = sender
        self.budget = REPLY_FACTOR * packet_bytes + REPLY_ALLOWANCE_BYTES
        self.status = False
        self.dropped = 0

    def allow(self, size_bytes: int) -> bool:
        if size_bytes > self.budget:
            self.dropped += 1
            return False
        self.budget -= size_bytes
        return True


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
                 record_dir: Path | None = None, status_every_s: float = 1.0, allowed_dirs: Sequence[Path] = (), allow_quit: bool = False,
                 loop_model: Path | None = None, loops_dir: Path | None = None) -> None:
        """``record_dir``: where /record writes (None: recording refused); ``allowed_dirs``: folders loads may read
        besides corpora/, models/ and ``record_dir``; ``allow_quit``: whether /antiphon/quit stops the server;
        ``loop_model`` and ``loops_dir``: the loop diffusion model and where /antiphon/loops/generate writes
        (None: loop requests refused; the folder is readable by /input)."""
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
        self.allow_quit = allow_quit
        self.allowed_dirs = tuple(Path(d).resolve() for d in (*paths.OSC_READABLE_DIRS, *([record_dir] if record_dir else []),
                                                              *([loops_dir] if loops_dir else []), *allowed_dirs))
        self.quit = threading.Event()
        self.loader = Loader()
        self.recorder = Recorder(record_dir) if record_dir is not None else None
        self.loops = LoopService(loop_model, loops_dir) if loop_model is not None and loops_dir is not None else None
        for v in engine.voices:
            v.notify = self._notify
        self._threads: list[threading.Thread] = []
        self._log_forwarder = OscLogForwarder(self)
        self._handlers = self._bind_handlers()

    # -- sending --------------------------------------------------------------------------------
    def _send(self, address: str, args: tuple, to: set[Peer] | list[Peer], replies: PacketReplies | None = None) -> None:
        """Send one message to ``to``; as a reply to a packet, only within its budget (else to nobody)."""
        builder = OscMessageBuilder(address)
        for a in args:
            builder.add_arg(int(a) if isinstance(a, bool) else a)
        data = builder.build().dgram
        if replies is not None and not replies.allow(len(data)):
            return
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

    def error(self, address: str, reason: str, sender: Peer | None, replies: PacketReplies | None = None) -> None:
        log.debug("refused %s: %s", shorten(address) or "(packet)", reason)
        targets = set(self.clients)
        if sender is not None:
            targets.add(sender)
        self._send(f"{PREFIX}/error", (shorten(address), reason), targets, replies)

    def send_status(self, extra: Peer | None = None) -> None:
        targets = set(self.clients) | ({extra} if extra else set())
        for v in self.engine.voices:
            s = v.status()
            self._send(f"{PREFIX}/status", (v.name, int(s["running"]), self.engine.xruns, float(s["compute_p50_ms"]), float(s["compute_p99_ms"]),
                                            s["fallbacks"], s["input_label"], s["answer_label"], s["skipped"], s["steps"],
                                            s["resyncs"], s["input_starved"]), targets)

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
        if self.loops is not None:
            self.loops.close()
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
        """One datagram: every message in it is carried out or refused with a reason (within its reply budget)."""
        replies = PacketReplies(sender, len(data))
        try:
            messages = parse_datagram(data)
        except Refused as refused:
            self.error(refused.address, refused.reason, sender, replies)
            return
        for address, args in messages:
            try:
                self.carry_out(resolve(address, args, self.agents), replies)
            except Refused as refused:
                self.error(refused.address, refused.reason, sender, replies)
            except AntiphonError as exc:
                self.error(address, str(exc), sender, replies)
            except Exception as exc:  # noqa: BLE001 - the server never dies from a message; the bug is logged
                log.exception("internal error on %s", shorten(address))
                self.error(address, f"internal error ({type(exc).__name__}); nothing was changed", sender, replies)
        if replies.status:
            self.send_status(extra=sender)
        if replies.dropped:
            log.debug("%d replies to a %d-byte packet from %s:%d not sent (over its reply budget)", replies.dropped, len(data), *sender)

    def carry_out(self, cmd: Command, replies: PacketReplies) -> None:
        """Run the handler bound to the command's table entry (settings share one)."""
        if cmd.entry.setting is not None:
            self._set(cmd, replies)
        else:
            self._handlers[(cmd.entry.scope, cmd.name)](cmd, replies)

    def _bind_handlers(self) -> dict[tuple[str, str], Callable[[Command, PacketReplies], None]]:
        """One handler per incoming table entry that is not a setting; an entry without one is a bug."""
        handlers = {
            ("server", "status"): self._status, ("server", "ping"): self._ping, ("server", "register"): self._register,
            ("server", "unregister"): self._unregister, ("server", "quit"): self._quit, ("server", "loops/generate"): self._loops_generate,
            ("agent", "start"): self._start_or_stop, ("agent", "stop"): self._start_or_stop,
            ("agent", "model"): self._load, ("agent", "corpus"): self._load, ("agent", "input"): self._load,
            ("agent", "record"): self._record_command,
            ("agent", "tempo"): self._arranger_command, ("agent", "follow"): self._arranger_command,
        }
        wanted = {(a.scope, a.command) for a in TABLE if a.direction == "in" and a.setting is None}
        if wanted != set(handlers):
            raise RuntimeError(f"OSC table entries and handlers differ: {sorted(wanted ^ set(handlers))}")
        return handlers

    # -- agent commands -------------------------------------------------------------------------
    def _set(self, cmd: Command, replies: PacketReplies) -> None:
        voice = self.engine.voice(cmd.agent)
        f = SETTING_FIELDS[cmd.entry.setting]
        voice.request("config", voice.settings(**{f.name: field_type(f)(cmd.values[0])}))

    def _start_or_stop(self, cmd: Command, replies: PacketReplies) -> None:
        self.engine.voice(cmd.agent).request(cmd.name)

    def _arranger_command(self, cmd: Command, replies: PacketReplies) -> None:
        """/tempo bpm (0: follow the input's tempo) and /follow 0|1, for arranger agents (others refuse)."""
        value = cmd.values[0]
        self.engine.voice(cmd.agent).request(cmd.name, float(value) if cmd.name == "tempo" else bool(value))

    def _load(self, cmd: Command, replies: PacketReplies) -> None:
        voice, sender, address = self.engine.voice(cmd.agent), replies.sender, cmd.entry.address_for(cmd.agent)
        if cmd.name in ("model", "corpus") and voice.agent.kind == "arranger":
            raise AntiphonError(f"agent '{cmd.agent}' is an arranger: its models are chosen when the server starts (serve --agent)")
        path = self.readable_path(cmd.name, cmd.values[0])
        self.loader.submit(voice, cmd.name, path, lambda reason: self.error(address, reason, sender))

    def _record_command(self, cmd: Command, replies: PacketReplies) -> None:
        self._record(self.engine.voice(cmd.agent), bool(cmd.values[0]))

    def readable_path(self, what: str, sent: str) -> str:
        """The resolved path a load of ``what`` may read: inside an allowed folder once symlinks and '..' are
        resolved, and a folder (model, corpus) or a file (input). A missing and a forbidden path get the same
        words, so that no client learns anything of files outside the allowed folders."""
        if what == "input" and sent == MIC:
            return sent
        noun, looks_right = LOADABLE[what]
        resolved = paths.inside_folders(sent, self.allowed_dirs)
        try:
            found = resolved is not None and looks_right(resolved)
        except OSError:  # e.g. a folder it may not enter
            found = False
        if not found:
            raise AntiphonError(f"no such {noun} (or not allowed): {sent}")
        return str(resolved)

    # -- server commands ------------------------------------------------------------------------
    def _status(self, cmd: Command, replies: PacketReplies) -> None:
        replies.status = True  # answered once, after the packet's other messages

    def _ping(self, cmd: Command, replies: PacketReplies) -> None:
        self._send(f"{PREFIX}/pong", cmd.values, [replies.sender], replies)

    def _register(self, cmd: Command, replies: PacketReplies) -> None:
        client = (replies.sender[0], cmd.values[0])
        if client not in self.clients and len(self.clients) >= MAX_CLIENTS:
            raise AntiphonError(f"too many registered clients ({MAX_CLIENTS}); unregister one first")
        self.clients.add(client)

    def _unregister(self, cmd: Command, replies: PacketReplies) -> None:
        client = (replies.sender[0], cmd.values[0])
        if client not in self.clients:
            raise AntiphonError(f"port {cmd.values[0]} on {replies.sender[0]} is not registered")
        self.clients.discard(client)

    def _quit(self, cmd: Command, replies: PacketReplies) -> None:
        if not self.allow_quit:
            raise AntiphonError(QUIT_DISABLED)
        log.info("quit requested over OSC by %s:%d", *replies.sender)
        self.quit.set()

    def _loops_generate(self, cmd: Command, replies: PacketReplies) -> None:
        """Queue a loop request (checked in one line first); the worker reports /antiphon/event/loops or an error."""
        if self.loops is None:
            raise AntiphonError(LOOPS_DISABLED)
        bpm, bars, count = cmd.values
        request = LoopRequest(bpm=float(bpm), bars=int(bars), count=int(count))
        if not is_diffusion_folder(self.loops.model_dir):
            raise AntiphonError(f"no loop diffusion model at {self.loops.model_dir} (build it with scripts/train-loop-models.sh)")
        sender, address = replies.sender, cmd.entry.address_for(None)
        self.loops.submit(request, lambda folder, n: self.send_event("event/loops", str(folder), n),
                          lambda reason: self.error(address, reason, sender))

    def _record(self, voice: Voice, on: bool) -> None:
        if self.recorder is None:
            raise AntiphonError(RECORD_DISABLED)
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
