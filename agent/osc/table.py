"""The OSC address table: every address the server accepts or sends, in one place.

The server dispatches from it (``agent/osc/server.py``), ``antiphon osc-table`` prints it as the
Markdown in docs/osc.md, and ``antiphon osc-patches`` writes the Max and Pd patches from it; tests
check the patches and the docs against it.

Addresses are ``/antiphon/<command>`` for the server as a whole and ``/antiphon/<agent>/<command>``
for one answering agent (a server can run several, each with its own model, corpus and channels).
Numbers may be sent as OSC int or float (Max sends ints from integer boxes, Pd sends floats);
an ``int`` argument must then hold a whole number.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine.config import field_type, setting_fields, spec_of

PREFIX = "/antiphon"
AGENT = "<agent>"  # placeholder of the agent's name in agent-scoped addresses

FLOAT, INT, STRING = "f", "i", "s"
TYPE_NAMES = {FLOAT: "float", INT: "int", STRING: "string"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # FLOAT, INT or STRING
    low: float | None = None
    high: float | None = None
    unit: str = ""
    also: tuple[float, ...] = ()  # values accepted outside [low, high] (e.g. hop 0 = the model's own)

    @property
    def range_text(self) -> str:
        if self.low is None:
            return ""
        also = "".join(f" or {_number(v)}" for v in self.also)
        return f"{_number(self.low)} to {_number(self.high)}{also}"


@dataclass(frozen=True)
class Address:
    """One OSC address. ``direction`` is "in" (client -> server) or "out" (server -> client)."""

    command: str  # the part after /antiphon/ (and after <agent>/ for agent scope)
    scope: str  # "server" or "agent"
    direction: str
    args: tuple[Arg, ...]
    help: str
    setting: str | None = None  # the EngineConfig field an agent setting changes

    @property
    def pattern(self) -> str:
        middle = f"{AGENT}/" if self.scope == "agent" else ""
        return f"{PREFIX}/{middle}{self.command}"

    def address_for(self, agent: str | None) -> str:
        return self.pattern.replace(AGENT, agent) if self.scope == "agent" else self.pattern


def _a(command: str, args: tuple[Arg, ...], help: str, setting: str | None = None) -> Address:
    return Address(command, "agent", "in", args, help, setting)


def _s(command: str, args: tuple[Arg, ...], help: str) -> Address:
    return Address(command, "server", "in", args, help)


def _out(command: str, args: tuple[Arg, ...], help: str) -> Address:
    return Address(command, "server", "out", args, help)


def _setting_addresses() -> tuple[Address, ...]:
    """One agent address per playing setting that OSC may change (``SettingSpec.osc``)."""
    out = []
    for f in setting_fields():
        spec = spec_of(f)
        if spec.osc is None:
            continue
        kind = field_type(f)
        arg = Arg(spec.osc_arg, FLOAT if kind is float else INT, spec.low, spec.high, spec.unit if kind is not bool else "", spec.also)
        out.append(_a(spec.osc, (arg,), spec.help, f.name))
    return tuple(out)


AGENT_NAME = Arg("agent", STRING)

TABLE: tuple[Address, ...] = (
    # --- server ---------------------------------------------------------------------------------
    _s("status", (), "ask for one /antiphon/status message per agent now (they are also sent every second)"),
    _s("register", (Arg("port", INT, 1, 65535),), "send status, events and errors to this UDP port on the sender's host"),
    _s("unregister", (Arg("port", INT, 1, 65535),), "stop sending to this port on the sender's host"),
    _s("ping", (Arg("id", INT, -2147483648, 2147483647),), "answered at once by /antiphon/pong with the same id (round-trip time)"),
    _s("quit", (), "stop the audio, close the server and exit"),
    _s("loops/generate", (Arg("bpm", FLOAT, 40, 240, "bpm"), Arg("bars", INT, 1, 8), Arg("count", INT, 1, 64)),
       "generate new loops at this tempo with the loop diffusion model (serve --allow-loops, --loop-model), in a background worker "
       "that never holds up the audio; /antiphon/event/loops reports their folder (in serve --loops-dir; /input can play them)"),
    # --- one agent ------------------------------------------------------------------------------
    _a("start", (), "start listening and answering (a new performance: fresh decision state)"),
    _a("stop", (), "stop answering: the answer fades out over one crossfade"),
    _a("model", (Arg("path", STRING),), "load a decision model folder; keeps the corpus if it fits, else the model's own corpus"),
    _a("corpus", (Arg("path", STRING),), "load a corpus folder (its codebook must be the model's)"),
    *_setting_addresses(),  # each playing setting, from its declaration in agent/engine/config.py
    _a("input", (Arg("source", STRING),), "'mic' for the live input channel, or an audio file played in a loop as the performer"),
    _a("record", (Arg("on", INT, 0, 1),), "1 starts recording input (left) and answer (right) to a WAV in the record folder, 0 stops"),
    _a("tempo", (Arg("bpm", FLOAT, 30, 300, "bpm", also=(0.0,)),),
       "arranger agents: play at this tempo (the beat phase still comes from the input); 0 follows the input's tempo again"),
    _a("follow", (Arg("on", INT, 0, 1),),
       "arranger agents: 1 follows the input's beats (tempo and phase), 0 keeps the current beat grid running on its own"),
    # --- sent by the server ---------------------------------------------------------------------
    _out("status", (AGENT_NAME, Arg("running", INT, 0, 1), Arg("xruns", INT), Arg("compute_p50", FLOAT, unit="ms"),
                    Arg("compute_p99", FLOAT, unit="ms"), Arg("fallbacks", INT), Arg("input_label", INT), Arg("answer_label", INT),
                    Arg("skipped", INT), Arg("steps", INT), Arg("resyncs", INT), Arg("input_starved", INT)),
         "one per agent, every second and on request (labels are -1 before the first decision; skipped: chunks not decided "
         "because the worker was held up; resyncs: restarts after the continuation ran out; input_starved: blocks of an input "
         "file the worker did not supply in time)"),
    _out("event/grain", (AGENT_NAME, Arg("chunk", INT), Arg("input_label", INT), Arg("answer_label", INT), Arg("grain", INT),
                         Arg("contiguous", INT, 0, 1), Arg("fallback", INT, 0, 1), Arg("compute", FLOAT, unit="ms")),
         "a decision: the grain scheduled for the next slot"),
    _out("event/note", (AGENT_NAME, Arg("pitch", INT, 0, 127), Arg("velocity", INT, 1, 127), Arg("duration", FLOAT, unit="ms")),
         "an arranger's note, sent when it starts to sound (the server also plays it on the agent's output channel)"),
    _out("event/bar", (AGENT_NAME, Arg("bar", INT), Arg("chord", STRING), Arg("tempo", FLOAT, unit="bpm"), Arg("ahead", FLOAT, unit="ms")),
         "an arranger decided its next bar: its chord (Harte label, N for none), the tempo it is played at and how long before "
         "the bar starts it was decided"),
    _out("event/set", (AGENT_NAME, Arg("name", STRING), Arg("value", FLOAT)), "a playing setting the agent has applied (name as in the table)"),
    _out("event/state", (AGENT_NAME, Arg("state", STRING)), "'started' or 'stopped'"),
    _out("event/loaded", (AGENT_NAME, Arg("what", STRING), Arg("path", STRING)),
         "a model, corpus or input file is in use ('model', 'corpus', 'input')"),
    _out("event/recording", (AGENT_NAME, Arg("on", INT, 0, 1), Arg("path", STRING)), "recording started or stopped, and its file"),
    _out("event/xrun", (Arg("total", INT),), "the audio stream dropped or repeated a block (total since start)"),
    _out("event/skipped", (AGENT_NAME, Arg("total", INT),),
         "a chunk was not decided (several completed at once: the worker was held up); the grain's continuation played on"),
    _out("event/loops", (Arg("path", STRING), Arg("count", INT)),
         "loops asked with /antiphon/loops/generate are written: their folder (WAV + JSON each, tempo in the names) and how many"),
    _out("error", (Arg("address", STRING), Arg("reason", STRING)), "a message was refused, and why; nothing was changed"),
    _out("log", (Arg("level", STRING), Arg("message", STRING)),
         "a line of the server's log: loads, refused loads, warnings (level INFO, WARNING or ERROR; INFO lines not with serve --quiet)"),
    _out("pong", (Arg("id", INT),), "answer to /antiphon/ping"),
)

INCOMING = {(a.scope, a.command): a for a in TABLE if a.direction == "in"}
OUTGOING = {a.command: a for a in TABLE if a.direction == "out"}
SERVER_COMMANDS = frozenset(a.command for a in TABLE if a.direction == "in" and a.scope == "server")
AGENT_COMMANDS = frozenset(a.command for a in TABLE if a.direction == "in" and a.scope == "agent")
# the first word of each outgoing command, in table order (status, event, error, log, pong)
OUTGOING_TOPS = tuple(dict.fromkeys(a.command.split("/")[0] for a in TABLE if a.direction == "out"))
# an agent cannot take a name that begins a server address: /antiphon/<name>/... would be ambiguous
RESERVED_NAMES = {c.split("/")[0] for c in SERVER_COMMANDS} | set(OUTGOING_TOPS)


def markdown() -> str:
    """The table as Markdown (docs/osc.md is this text)."""
    lines = [
        "# Antiphon OSC address table",
        "",
        "Generated by `antiphon osc-table` from `agent/osc/table.py`; do not edit by hand.",
        "",
        "The server listens on UDP 127.0.0.1:7400 (`antiphon serve --osc-host --osc-port`) and sends",
        "status, events and errors to 127.0.0.1:7401 (`--reply-port`) and to every port registered with",
        "`/antiphon/register`; errors and pongs also go back to the sender's address. `<agent>` is an",
        "agent's name (`answer` unless `antiphon serve --agent` names others). Numbers may be OSC int",
        "or float; an int argument must hold a whole number. Every refused message is answered on",
        "`/antiphon/error` with the reason, and changes nothing.",
        "",
        "Any local process can send to the server, so `antiphon serve` trusts no message. Model, corpus",
        "and input paths are loaded only from inside `corpora/`, `models/`, the record folder and each",
        "`--allow-dir DIR`, checked after symlinks and `..` are resolved (`/antiphon/event/loaded` reports",
        "the resolved path); any other path is answered like a missing one. `/antiphon/quit` needs",
        "`serve --allow-quit`, `/antiphon/<agent>/record` needs `--allow-record` and `/antiphon/loops/generate`",
        "needs `--allow-loops`. However many",
        "`/antiphon/status` a packet holds, it gets one round of status; its other replies stop at twice",
        "its size plus 512 bytes (`REPLY_FACTOR`, `REPLY_ALLOWANCE_BYTES` in `agent/osc/server.py`).",
        "",
        "The playing settings (crossfade to hop) are declared once, in `agent/engine/config.py`",
        "(`EngineConfig`): this table, the patches and the `--options` of `rehearse` and `serve` come from there.",
        "",
    ]
    for title, direction in (("Client to server", "in"), ("Server to client", "out")):
        lines += [f"## {title}", "", "| address | arguments | help |", "|---|---|---|"]
        for a in TABLE:
            if a.direction != direction:
                continue
            args = ", ".join(
                f"{arg.name} ({TYPE_NAMES[arg.type]}{', ' + arg.range_text if arg.range_text else ''}{' ' + arg.unit if arg.unit else ''})"
                for arg in a.args
            ) or "none"
            lines.append(f"| `{a.pattern}` | {args} | {a.help} |")
        lines.append("")
    return "\n".join(lines)
