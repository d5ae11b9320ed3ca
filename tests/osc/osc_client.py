"""A plain UDP OSC client for tests and benches: send messages, collect what the server sends back.

Its socket keeps the kernel's default receive buffer (``net.core.rmem_default``), the size any
user gets: nothing here depends on growing it (root's SO_RCVBUFFORCE). Bursts are paced by
replies instead (``send_windowed``): at most a window of packets is ever waiting in a socket.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

RMEM_DEFAULT = Path("/proc/sys/net/core/rmem_default")


def message(address: str, *args: object, types: str | None = None) -> bytes:
    builder = OscMessageBuilder(address)
    for i, a in enumerate(args):
        builder.add_arg(a, types[i] if types else None)
    return builder.build().dgram


def default_receive_buffer_bytes() -> int:
    """The kernel's default socket receive buffer (Linux: 212992 bytes unless changed)."""
    try:
        return int(RMEM_DEFAULT.read_text())
    except (OSError, ValueError):
        return 212_992


def use_default_receive_buffer(sock: socket.socket) -> int:
    """Shrink ``sock``'s receive buffer back to the kernel's default (Linux doubles the value it is given)."""
    size = default_receive_buffer_bytes()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size // 2)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def wait_for_osc_port(log: Path, serve: subprocess.Popen, timeout_s: float = 90.0) -> int:
    """The UDP port `antiphon serve --osc-port 0` bound, read from its log ("OSC on HOST:PORT").
    The kernel picks the port, so no other process can take it in between."""
    end = time.monotonic() + timeout_s
    while True:
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        if m := re.search(r"^OSC on [^:\s]+:(\d+),", text, flags=re.MULTILINE):
            return int(m.group(1))
        assert serve.poll() is None, f"antiphon serve exited with status {serve.returncode}: {text[-3000:]}"
        assert time.monotonic() < end, f"antiphon serve did not listen for OSC within {timeout_s:.0f} s: {text[-3000:]}"
        time.sleep(0.1)


class Client:
    def __init__(self, server: tuple[str, int], port: int = 0) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def send(self, address: str, *args: object, types: str | None = None) -> None:
        self.sock.sendto(message(address, *args, types=types), self.server)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def receive(self, timeout_s: float = 2.0) -> list[tuple[str, list]]:
        """Everything that arrives within ``timeout_s`` (stops early on a quiet 0.2 s after the first message)."""
        out: list[tuple[str, list]] = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.sock.settimeout(max(min(end - time.monotonic(), 0.2 if out else end - time.monotonic()), 1e-3))
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                if out:
                    return out
                continue
            out += [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
        return out

    def wait_for(self, address: str, timeout_s: float = 5.0, where=lambda args: True) -> list:  # noqa: ANN001
        """Arguments of the first ``address`` message satisfying ``where``; AssertionError after the timeout."""
        end = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < end:
            self.sock.settimeout(max(end - time.monotonic(), 1e-3))
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                break
            for m in OscPacket(data).messages:
                seen.append((m.message.address, list(m.message.params)))
                if m.message.address == address and where(list(m.message.params)):
                    return list(m.message.params)
        raise AssertionError(f"no {address} within {timeout_s} s; received {seen[-10:]}")

    def close(self) -> None:
        self.sock.close()


class Replies:
    """Reads a client's socket in a thread (so nothing waits in it) and counts what arrives by address.
    While it runs, the client's own ``receive``/``wait_for`` must not be used."""

    def __init__(self, client: Client) -> None:
        self.counts: dict[str, int] = {}
        self.last: dict[str, list] = {}
        self.statuses: dict[str, list] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        client.sock.settimeout(0.1)

        def run() -> None:
            while not self._stop.is_set():
                try:
                    data, _ = client.sock.recvfrom(65536)
                except socket.timeout:
                    continue
                for m in OscPacket(data).messages:
                    a, params = m.message.address, list(m.message.params)
                    with self._lock:
                        self.counts[a] = self.counts.get(a, 0) + 1
                        self.last[a] = params
                        if a == "/antiphon/status":
                            self.statuses[params[0]] = params

        self.thread = threading.Thread(target=run, name="osc-replies", daemon=True)
        self.thread.start()

    def count(self, address: str) -> int:
        with self._lock:
            return self.counts.get(address, 0)

    def wait(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < end, f"timed out after {timeout_s} s; counts {self.counts}, last {self.last}"
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


def send_windowed(client: Client, replies: Replies, packets: Iterable[bytes], answer: str, window: int = 8,
                  per_s: float | None = None, timeout_s: float = 30.0) -> float:
    """Send ``packets``, each of which the server answers once on ``answer``, keeping at most
    ``window`` of them unanswered (and at most ``per_s`` a second): a burst never waits in a
    socket beyond a few packets, whatever its receive buffer. Returns the seconds it took."""
    before = replies.count(answer)
    start = time.monotonic()
    sent = 0
    for packet in packets:
        end = time.monotonic() + timeout_s
        while sent - (replies.count(answer) - before) >= window:
            assert time.monotonic() < end, f"{sent - (replies.count(answer) - before)} packets unanswered for {timeout_s} s (of {sent} sent)"
            time.sleep(0.0005)
        if per_s is not None:
            time.sleep(max(0.0, start + sent / per_s - time.monotonic()))
        client.send_raw(packet)
        sent += 1
    return time.monotonic() - start
