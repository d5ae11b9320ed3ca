"""The Pd abstraction ``antiphon.pd`` and its help ``antiphon-help.pd``, and the canvas they are
built on (Pd's text format: objects numbered in order of appearance, then ``#X connect`` lines).

The abstraction sends through ``oscformat`` + ``netsend -u -b`` and receives through
``netreceive -u -b`` + ``oscparse``, routing status, events, errors and pongs to number boxes and prints,
and plays the arranger's notes (``/antiphon/event/note``) through ``makenote`` to ``noteout`` and to a
small sine synth on ``dac~`` (vanilla objects only).
"""

from __future__ import annotations

from agent.osc.patches.abstraction import (
    ADDRESSES_TITLE, AGENT, BUTTON, HEADER, INCOMING, INLET_HELP, NOTE_ATTACK_MS, NOTE_DEFAULTS, NOTE_EVENT, NOTE_GAIN,
    NOTE_RELEASE_MS, NOTE_VOICES, OUTGOING, OUTLET_HELP, RECEIVED_NOTE, REPLY_PORT, ROW_PX, SERVE_HELP, SERVER_HOST,
    SERVER_PORT, TEXT, TITLE, TOGGLE, control_kind, entry_line, example_messages, notes_help, text_default,
)
from agent.osc.patches.folders import NAME
from agent.osc.table import OUTGOING_TOPS, PREFIX, TABLE, Address


def _pd_escape(text: str) -> str:
    return text.replace("\\", "").replace("$", "\\$").replace(",", " \\,").replace(";", " \\;")


class _PdCanvas:
    """A Pd canvas being written: its object lines, their count (the next object's number), its connections."""

    def __init__(self, width: int, height: int) -> None:
        self.lines = [f"#N canvas 40 40 {width} {height} 12;"]
        self.count = 0
        self.links: list[str] = []

    def add(self, kind: str, x: int, y: int, body: str) -> int:
        self.lines.append(f"#X {kind} {x} {y} {body};")
        self.count += 1
        return self.count - 1

    def text(self, x: int, y: int, body: str, width_chars: int = 0) -> int:
        """A comment; ``width_chars`` > 0 sets its wrapping width (Pd's default wraps at 60)."""
        return self.add("text", x, y, _pd_escape(body) + (f", f {width_chars}" if width_chars else ""))

    def connect(self, a: int, outlet: int, b: int, inlet: int = 0) -> None:
        self.links.append(f"#X connect {a} {outlet} {b} {inlet};")

    def chain(self, *boxes: int) -> None:
        for a, b in zip(boxes, boxes[1:]):
            self.connect(a, 0, b)

    def source(self) -> str:
        return "\n".join(self.lines + self.links) + "\n"


# -- the abstraction ----------------------------------------------------------------------------------
def _pd_control(canvas: _PdCanvas, entry: Address, y: int) -> tuple[int | None, str]:
    """The control of one address (or None) and the message box text that feeds oscformat."""
    path = entry.address_for(AGENT).strip("/").replace("/", " ")
    kind = control_kind(entry)
    if kind == BUTTON:
        return canvas.add("obj", 10, y, "bng 19 250 50 0 empty empty empty 0 -10 0 12 #fcfcfc #000000 #000000"), f"set {path} \\, list"
    if kind == TEXT:
        return None, f"set {path} \\, list {text_default(entry)}"
    if kind == TOGGLE:
        control = canvas.add("obj", 10, y, "tgl 19 0 empty empty empty 17 7 0 10 #fcfcfc #000000 #000000 0 1")
    else:
        arg = entry.args[0]
        control = canvas.add("floatatom", 10, y, f"7 {min((arg.low, *arg.also)):g} {arg.high:g} 0 - - - 0")
    return control, f"set {path} \\, list \\$1"


def _pd_sender(c: _PdCanvas) -> tuple[int, int]:
    """oscformat -> netsend, connected at load to the server; returns (oscformat, netsend)."""
    loadbang = c.add("obj", 850, 40, "loadbang")
    connect = c.add("msg", 850, 70, f"connect {SERVER_HOST} {SERVER_PORT}")
    fmt = c.add("obj", 850, 340, "oscformat")
    prepend = c.add("obj", 850, 370, "list prepend send")
    trim = c.add("obj", 850, 400, "list trim")
    netsend = c.add("obj", 850, 430, "netsend -u -b")
    c.chain(loadbang, connect, netsend)
    c.chain(fmt, prepend, trim, netsend)
    return fmt, netsend


def _pd_inlet(c: _PdCanvas, fmt: int, netsend: int, netreceive: int) -> None:
    """[inlet] -> [route connect listen]: its first two outlets go to the sockets, the third to oscformat."""
    inlet = c.add("obj", 1000, 40, "inlet")
    route = c.add("obj", 1000, 70, "route connect listen")
    c.connect(inlet, 0, route)
    _pd_inlet_sockets(c, route, netsend, netreceive)
    _pd_inlet_osc(c, route, fmt)


def _pd_inlet_sockets(c: _PdCanvas, route: int, netsend: int, netreceive: int) -> None:
    """connect <host> <port> -> netsend (after a disconnect), listen <port> -> netreceive."""
    again = c.add("obj", 1000, 100, "t a b")
    disconnect = c.add("msg", 1080, 130, "disconnect")
    connect = c.add("obj", 1000, 160, "list prepend connect")
    connect_trim = c.add("obj", 1000, 190, "list trim")
    c.connect(route, 0, again)
    c.connect(again, 1, disconnect)
    c.connect(disconnect, 0, netsend)
    c.connect(again, 0, connect)
    c.chain(connect, connect_trim, netsend)
    listen = c.add("obj", 1160, 100, "list prepend listen")
    listen_trim = c.add("obj", 1160, 130, "list trim")
    c.connect(route, 1, listen)
    c.chain(listen, listen_trim, netreceive)


def _pd_inlet_osc(c: _PdCanvas, route: int, fmt: int) -> None:
    """Any other message: its selector is the OSC address (-> oscformat's set), its arguments the OSC arguments."""
    order = c.add("obj", 1000, 230, "t a a")  # right first: set the address, then send the arguments
    address = c.add("obj", 1100, 260, "list split 1")
    set_address = c.add("msg", 1100, 290, "set \\$1")
    arguments = c.add("obj", 1000, 290, "list split 1")
    c.connect(route, 2, order)
    c.connect(order, 1, address)
    c.connect(address, 0, set_address)
    c.connect(set_address, 0, fmt)
    c.connect(order, 0, arguments)
    c.connect(arguments, 1, fmt)


def _pd_controls(c: _PdCanvas, fmt: int) -> int:
    """One row per incoming address; returns the y below the last row."""
    y = 40
    for entry in INCOMING:
        control, message = _pd_control(c, entry, y)
        box = c.add("msg", 60, y, message)
        c.text(400, y, f"{entry.pattern}: {entry.help}"[:62], width_chars=64)
        if control is not None:
            c.connect(control, 0, box)
        c.connect(box, 0, fmt)
        y += ROW_PX
    return y


def _pd_status(c: _PdCanvas, top: int, outlet: int, y: int) -> None:
    """/antiphon/status: printed, and its numbers in number boxes with their names below."""
    status = next(a for a in OUTGOING if a.command == "status")
    c.connect(top, outlet, c.add("obj", 10, y + 160, "print antiphon-status"))
    unpack = c.add("obj", 160, y + 160, "unpack s " + " ".join("f" for _ in status.args[1:]))
    c.connect(top, outlet, unpack)
    for i, arg in enumerate(status.args[1:], start=1):
        box = c.add("floatatom", 160 + 70 * (i - 1), y + 200, "6 0 0 0 - - - 0")
        c.text(160 + 70 * (i - 1), y + 225, arg.name.replace("_", "-")[:9])
        c.connect(unpack, i, box)


def _pd_events(c: _PdCanvas, top: int, outlet: int, y: int) -> None:
    """/antiphon/event/...: one print per event; the notes are also played (:func:`_pd_notes`)."""
    events = [a.command.split("/", 1)[1] for a in OUTGOING if a.command.startswith("event/")]
    event_route = c.add("obj", 10, y + 300, "route " + " ".join(events))
    c.connect(top, outlet, event_route)
    for i, event in enumerate(events):
        c.connect(event_route, i, c.add("obj", 10 + 130 * i, y + 340, f"print event-{event}"))
    _pd_notes(c, event_route, events.index(NOTE_EVENT.split("/", 1)[1]), y + 390)


# -- the arranger's notes -----------------------------------------------------------------------------
PD_VOICE_PX = 150  # the width of one synth voice's column
PD_NOTES_PX = 480  # the height of the notes' section, below the event prints


def _pd_notes(c: _PdCanvas, event_route: int, outlet: int, y: int) -> None:
    """``<agent> <pitch> <velocity> <duration>`` (every agent, like the other events) -> [makenote],
    whose note-on and note-off (after the duration) go to [noteout 1] and to the synth."""
    c.text(10, y, notes_help("noteout 1", "dac~", "turn DSP on (the message boxes below)"), width_chars=170)
    unpack = c.add("obj", 10, y + 40, "unpack s f f f")
    makenote = c.add("obj", 10, y + 70, f"makenote {NOTE_DEFAULTS}")
    c.connect(event_route, outlet, unpack)
    for arg in (3, 2, 1):  # duration, velocity (cold inlets), then pitch (hot)
        c.connect(unpack, arg, makenote, arg - 1)
    noteout = c.add("obj", 10, y + 100, "noteout 1")
    for i in (0, 1):
        c.connect(makenote, i, noteout, i)
    _pd_synth(c, makenote, y + 100)


def _pd_synth(c: _PdCanvas, makenote: int, y: int) -> None:
    """[poly] gives each note a voice ("voice pitch velocity") -> [route 1 .. N] -> the voices,
    summed into a gain (a number box sets it) -> both channels of [dac~]; message boxes turn DSP on and off."""
    poly = c.add("obj", 160, y, f"poly {NOTE_VOICES} 1")
    pack = c.add("obj", 160, y + 30, "pack f f f")
    route = c.add("obj", 160, y + 60, "route " + " ".join(str(v) for v in range(1, NOTE_VOICES + 1)))
    for i in (0, 1):
        c.connect(makenote, i, poly, i)
    for i in (0, 1, 2):
        c.connect(poly, i, pack, i)
    c.connect(pack, 0, route)
    level = c.add("floatatom", 70, y + 290, "5 0 1 0 - - - 0")
    c.text(125, y + 290, f"gain (starts at {NOTE_GAIN:g})")
    gain = c.add("obj", 10, y + 320, f"*~ {NOTE_GAIN:g}")
    c.connect(level, 0, gain, 1)
    for v in range(NOTE_VOICES):
        voice_in, voice_out = _pd_voice(c, 10 + PD_VOICE_PX * v, y + 100)
        c.connect(route, v, voice_in)
        c.connect(voice_out, 0, gain)
    dac = c.add("obj", 10, y + 350, "dac~")
    c.connect(gain, 0, dac, 0)
    c.connect(gain, 0, dac, 1)
    c.add("msg", 200, y + 330, "\\; pd dsp 1")
    c.add("msg", 300, y + 330, "\\; pd dsp 0")


def _pd_voice(c: _PdCanvas, x: int, y: int) -> tuple[int, int]:
    """One voice: ``pitch velocity`` -> a sine at mtof(pitch) times a [vline~] envelope that rises to
    velocity/127 (a note-on) or falls to 0 (velocity 0: the note-off); returns (its input, its [*~])."""
    unpack = c.add("obj", x, y, "unpack f f")
    mtof = c.add("obj", x, y + 30, "mtof")
    select = c.add("obj", x + 55, y + 30, "sel 0")
    osc = c.add("obj", x, y + 60, "osc~")
    release = c.add("msg", x + 45, y + 60, f"0 {NOTE_RELEASE_MS}")
    level = c.add("obj", x + 95, y + 60, "/ 127")
    attack = c.add("msg", x + 95, y + 90, f"\\$1 {NOTE_ATTACK_MS}")
    envelope = c.add("obj", x + 45, y + 120, "vline~")
    amp = c.add("obj", x, y + 150, "*~")
    c.chain(unpack, mtof, osc, amp)
    c.connect(unpack, 1, select)
    c.chain(select, release, envelope)
    c.connect(select, 1, level)
    c.chain(level, attack, envelope)
    c.connect(envelope, 0, amp, 1)
    return unpack, amp


def _pd_receiver(c: _PdCanvas, y: int) -> tuple[int, int]:
    """netreceive -> oscparse -> routes to prints and number boxes; returns (netreceive, list trim)."""
    c.text(10, y, RECEIVED_NOTE, width_chars=100)
    y += ROW_PX
    receive = c.add("obj", 10, y, f"netreceive -u -b {REPLY_PORT}")
    parse = c.add("obj", 10, y + 30, "oscparse")
    rtrim = c.add("obj", 10, y + 60, "list trim")
    prefix = c.add("obj", 10, y + 90, f"route {PREFIX.strip('/')}")
    top = c.add("obj", 10, y + 120, "route " + " ".join(OUTGOING_TOPS))
    c.chain(receive, parse, rtrim, prefix, top)
    printed = 0
    for outlet, name in enumerate(OUTGOING_TOPS):
        if name == "status":
            _pd_status(c, top, outlet, y)
        elif name == "event":
            _pd_events(c, top, outlet, y)
        else:
            c.connect(top, outlet, c.add("obj", 10 + 190 * printed, y + 260, f"print antiphon-{name}"))
            printed += 1
    return receive, rtrim


def pd_patch() -> str:
    """The Pd abstraction ``antiphon.pd``."""
    c = _PdCanvas(1300, (len(INCOMING) + len(OUTGOING) + 8) * ROW_PX + PD_NOTES_PX)
    c.text(10, 5, f"{TITLE} Inlet: {INLET_HELP}. Outlet: {OUTLET_HELP}.", width_chars=180)
    fmt, netsend = _pd_sender(c)
    y = _pd_controls(c, fmt)
    receive, rtrim = _pd_receiver(c, y + ROW_PX)
    _pd_inlet(c, fmt, netsend, receive)
    c.connect(rtrim, 0, c.add("obj", 300, y + ROW_PX * 2 + 60, "outlet"))
    return c.source()


# -- its help -----------------------------------------------------------------------------------------
def pd_help() -> str:
    """``antiphon-help.pd``: what the abstraction does, an instance driven from message boxes, every address."""
    c = _PdCanvas(1150, (len(TABLE) + 22) * 24)
    c.text(10, 5, f"[antiphon]: control an Antiphon server (antiphon serve) from Pd ({HEADER}).", width_chars=140)
    for i, line in enumerate(SERVE_HELP):
        c.text(10, 30 + 22 * i, line, width_chars=140)
    c.text(10, 100, f"Inlet: {INLET_HELP}. Outlet: {OUTLET_HELP}. Open the object to see its controls (agent '{AGENT}').", width_chars=140)
    y = 130
    messages = [c.add("msg", 10 + 210 * (i % 3), y + 30 * (i // 3), _pd_escape(m)) for i, m in enumerate(example_messages())]
    instance = c.add("obj", 10, y + 80, NAME)
    for box in messages:
        c.connect(box, 0, instance)
    c.connect(instance, 0, c.add("obj", 10, y + 110, f"print {NAME}"))
    y += 150
    c.text(10, y, ADDRESSES_TITLE, width_chars=140)
    for entry in TABLE:
        y += 24
        c.text(10, y, entry_line(entry), width_chars=150)
    return c.source()
