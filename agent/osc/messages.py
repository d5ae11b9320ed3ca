"""Incoming OSC: datagram -> messages -> validated commands, or a refusal with its reason.

Nothing here touches the engine: the server turns a ``Command`` into an action, a ``Refused`` into
an ``/antiphon/error`` reply. Hostile input (random bytes, truncated packets, odd type tags, huge
strings, NaN or infinite numbers, unknown addresses, nested bundles) ends as a ``Refused``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from pythonosc.osc_message import OscMessage, ParseError

from agent.osc.table import AGENT_COMMANDS, INCOMING, INT, PREFIX, SERVER_COMMANDS, STRING, TYPE_NAMES, Address

MAX_STRING_CHARS = 1024  # longest string argument accepted (paths)
MAX_ECHO_CHARS = 80  # longest piece of a refused address echoed back in an error
MAX_BUNDLE_DEPTH = 8
MAX_DATAGRAM_BYTES = 8192  # far above any valid message (a 1024-character path); bigger ones are not parsed
BUNDLE_TAG = b"#bundle\x00"


class Refused(Exception):
    """A message that is not carried out; ``address`` (shortened) and ``reason`` go into /antiphon/error."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(reason)
        self.address = shorten(address)
        self.reason = " ".join(reason.split())


@dataclass(frozen=True)
class Command:
    entry: Address
    agent: str | None  # None for server commands
    values: tuple

    @property
    def name(self) -> str:
        return self.entry.command


def shorten(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 3] + "..."


def parse_datagram(data: bytes) -> list[tuple[str, list]]:
    """The (address, arguments) of every message in a datagram, bundles flattened in order.

    Bundle time tags are not honoured: messages are carried out on arrival, in order.
    """
    if len(data) > MAX_DATAGRAM_BYTES:  # parsing a 60 kB string costs python-osc about 2.4 ms
        raise Refused("", f"packet of {len(data)} bytes refused (at most {MAX_DATAGRAM_BYTES})")
    try:
        messages = _split(bytes(data), 0)
    except (ParseError, ValueError, IndexError, struct.error, UnicodeDecodeError, OverflowError, TypeError) as exc:
        raise Refused("", f"malformed OSC packet ({len(data)} bytes): {type(exc).__name__}") from None
    if not messages:
        raise Refused("", f"malformed OSC packet ({len(data)} bytes): no message in it")
    return messages


def _split(data: bytes, depth: int) -> list[tuple[str, list]]:
    if not data.startswith(BUNDLE_TAG):
        message = OscMessage(data)
        return [(message.address, list(message.params))]
    if depth >= MAX_BUNDLE_DEPTH:
        raise ValueError("bundles nested too deep")
    out: list[tuple[str, list]] = []
    pos = len(BUNDLE_TAG) + 8  # the time tag
    if len(data) < pos:
        raise ValueError("truncated bundle")
    while pos < len(data):
        (size,) = struct.unpack(">i", data[pos : pos + 4])
        pos += 4
        if size <= 0 or size % 4 or pos + size > len(data):
            raise ValueError("bad bundle element size")
        out += _split(data[pos : pos + size], depth + 1)
        pos += size
    return out


def resolve(address: str, args: list, agents: frozenset[str] | set[str]) -> Command:
    """Match an address against the table and validate its arguments; raise ``Refused`` otherwise."""
    parts = address.split("/")
    if len(parts) < 3 or f"/{parts[1]}" != PREFIX:
        raise Refused(address, f"unknown address (every address starts with {PREFIX}/)")
    if len(parts) == 3:
        command = parts[2]
        if command not in SERVER_COMMANDS:
            hint = f"; agent commands are {PREFIX}/<agent>/{command}" if command in AGENT_COMMANDS else ""
            raise Refused(address, f"unknown address{hint}")
        entry, agent = INCOMING[("server", command)], None
    elif len(parts) == 4 and f"{parts[2]}/{parts[3]}" in SERVER_COMMANDS:  # e.g. /antiphon/loops/generate
        entry, agent = INCOMING[("server", f"{parts[2]}/{parts[3]}")], None
    elif len(parts) == 4:
        agent, command = parts[2], parts[3]
        if command not in AGENT_COMMANDS:
            raise Refused(address, "unknown address")
        if agent not in agents:
            raise Refused(address, f"no agent named '{shorten(agent)}' (agents: {', '.join(sorted(agents))})")
        entry = INCOMING[("agent", command)]
    else:
        raise Refused(address, "unknown address")
    return Command(entry, agent, validate_args(entry, address, args))


def validate_args(entry: Address, address: str, args: list) -> tuple:
    if len(args) != len(entry.args):
        want = ", ".join(f"{a.name} ({TYPE_NAMES[a.type]})" for a in entry.args) or "no arguments"
        raise Refused(address, f"wrong number of arguments: got {len(args)}, expected {want}")
    values = []
    for spec, value in zip(entry.args, args):
        if spec.type == STRING:
            if not isinstance(value, str):
                raise Refused(address, f"{spec.name} must be a string, got {_osc_type(value)}")
            if len(value) > MAX_STRING_CHARS or "\x00" in value:
                raise Refused(address, f"{spec.name} is too long (over {MAX_STRING_CHARS} characters)")
            values.append(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Refused(address, f"{spec.name} must be a number, got {_osc_type(value)}")
        if not math.isfinite(value):
            raise Refused(address, f"{spec.name} must be a finite number, got {value}")
        if spec.type == INT:
            if value != int(value):
                raise Refused(address, f"{spec.name} must be a whole number, got {value}")
            value = int(value)
        else:
            value = float(value)
        if spec.low is not None and not (spec.low <= value <= spec.high or value in spec.also):
            unit = f" {spec.unit}" if spec.unit else ""
            raise Refused(address, f"{spec.name} out of range: {value:g}{unit} (allowed {spec.range_text}{unit})")
        values.append(value)
    return tuple(values)


def _osc_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (bytes, bytearray)):
        return "a blob"
    if value is None:
        return "nil"
    return type(value).__name__

