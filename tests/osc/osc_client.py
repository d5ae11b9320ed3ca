"""A plain UDP OSC client for tests and benches: send messages, collect what the server sends back."""

from __future__ import annotations

import socket
import time

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from agent.osc.server import grow_receive_buffer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def message(address: str, *args: object, types: str | None = None) -> bytes:
    builder = OscMessageBuilder(address)
    for i, a in enumerate(args):
        builder.add_arg(a, types[i] if types else None)
    return builder.build().dgram


class Client:
    def __init__(self, server: tuple[str, int], port: int = 0) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        grow_receive_buffer(self.sock)  # replies to floods arrive in bursts too
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
