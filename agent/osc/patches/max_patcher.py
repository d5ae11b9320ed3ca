"""The Max patchers of the package: the [antiphon] abstraction (``patchers/antiphon.maxpat``), its
help (``help/antiphon.maxhelp``) and the overview (``extras/antiphon-overview.maxpat``), as
patcher dictionaries (written as JSON), and the boxes and patch lines they are built from.

The abstraction sends through ``udpsend`` and receives through ``udpreceive``, routing every
outgoing address of the table to prints and the status numbers to number boxes, and plays the
arranger's notes (``/antiphon/event/note``) through ``makenote`` to ``noteout`` and to a small
sine synth on ``ezdac~`` (objects of Max 8, no ``poly~`` voice file).
"""

from __future__ import annotations

from agent import __version__
from agent.osc.patches.abstraction import (
    ADDRESSES_TITLE, AGENT, BUTTON, HEADER, INCOMING, INLET_HELP, NOTE_ATTACK_MS, NOTE_DEFAULTS, NOTE_EVENT, NOTE_GAIN,
    NOTE_RELEASE_MS, NOTE_VOICES, OUTGOING, OUTLET_HELP, RECEIVED_NOTE, REPLY_PORT, ROW_PX, SERVE_HELP, SERVER_HOST,
    SERVER_PORT, TEXT, TITLE, TOGGLE, control_kind, entry_line, example_messages, notes_help, text_default,
)
from agent.osc.patches.folders import NAME
from agent.osc.table import FLOAT, TABLE, Address, Arg


class _MaxPatcher:
    """A Max patcher being built: its boxes (numbered obj-1, obj-2, ... as added) and patch lines."""

    def __init__(self, width: int, height: int) -> None:
        self.boxes: list[dict] = []
        self.lines: list[dict] = []
        self.rect = [40.0, 40.0, float(width), float(height)]

    def add(self, maxclass: str, x: float, y: float, text: str | None = None, inlets: int = 1, outlets: int = 1,
            outlettype: list[str] | None = None, width: float = 120.0, **extra: object) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        box = {"id": box_id, "maxclass": maxclass, "numinlets": inlets, "numoutlets": outlets,
               "outlettype": outlettype if outlettype is not None else [""] * outlets, "patching_rect": [x, y, width, 22.0]}
        if outlets == 0:
            del box["outlettype"]
        if text is not None:
            box["text"] = text
        box.update(extra)
        self.boxes.append({"box": box})
        return box_id

    def comment(self, x: float, y: float, text: str, width: float = 860.0, **extra: object) -> str:
        return self.add("comment", x, y, text, inlets=1, outlets=0, width=width, **extra)

    def obj(self, x: float, y: float, text: str, inlets: int = 1, outlets: int = 1, width: float = 120.0,
            outlettype: list[str] | None = None) -> str:
        return self.add("newobj", x, y, text, inlets=inlets, outlets=outlets, outlettype=outlettype, width=width)

    def message(self, x: float, y: float, text: str, width: float = 240.0) -> str:
        return self.add("message", x, y, text, inlets=2, outlets=1, width=width)

    def number(self, x: float, y: float, arg: Arg) -> str:
        """A number box for one argument: a flonum for a float, a number (int) box otherwise."""
        kind = "flonum" if arg.type == FLOAT else "number"
        return self.add(kind, x, y, inlets=1, outlets=2, outlettype=["", "bang"], width=60.0)

    def connect(self, a: str, outlet: int, b: str, inlet: int = 0) -> None:
        self.lines.append({"patchline": {"source": [a, outlet], "destination": [b, inlet]}})

    def json(self, description: str = "") -> dict:
        return {"patcher": {"fileversion": 1, "appversion": {"major": 8, "minor": 5, "revision": 0, "architecture": "x64", "modernui": 1},
                            "classnamespace": "box", "rect": self.rect, "default_fontsize": 12.0, "gridsize": [15.0, 15.0],
                            "description": description, "digest": description, "boxes": self.boxes, "lines": self.lines}}


# -- the abstraction ----------------------------------------------------------------------------------
def _max_control(p: _MaxPatcher, entry: Address, y: float) -> tuple[str | None, str]:
    """The control of one address (or None) and the text of the message box it feeds."""
    address = entry.address_for(AGENT)
    kind = control_kind(entry)
    if kind == BUTTON:
        return p.add("button", 10, y, outlets=1, outlettype=["bang"], width=22.0), address
    if kind == TEXT:
        return None, f"{address} {text_default(entry)}"
    if kind == TOGGLE:
        return p.add("toggle", 10, y, outlets=1, outlettype=["int"], width=22.0), f"{address} $1"
    return p.number(10, y, entry.args[0]), f"{address} $1"


def _max_controls(p: _MaxPatcher, send: str) -> float:
    """One row per incoming address; returns the y below the last row."""
    y = 40.0
    for entry in INCOMING:
        control, text = _max_control(p, entry, y)
        box = p.message(80, y, text)
        p.comment(340, y, entry.help, width=340.0)
        if control is not None:
            p.connect(control, 0, box)
        p.connect(box, 0, send)
        y += ROW_PX
    return y


def _max_receiver(p: _MaxPatcher, y: float) -> str:
    """udpreceive -> route per outgoing address -> number boxes and prints, and the notes to
    :func:`_max_notes`; returns udpreceive."""
    p.comment(10, y, RECEIVED_NOTE, width=600.0)
    y += ROW_PX
    receive = p.obj(10, y, f"udpreceive {REPLY_PORT}")
    addresses = [a.pattern for a in OUTGOING]
    route = p.obj(10, y + 40, "route " + " ".join(addresses), inlets=2, outlets=len(addresses) + 1, width=1000.0)
    p.connect(receive, 0, route)
    status = OUTGOING[0]
    unpack = p.obj(10, y + 80, "unpack s " + " ".join("f" if a.type == FLOAT else "i" for a in status.args[1:]), outlets=len(status.args), width=300.0)
    p.connect(route, 0, unpack)
    for i, arg in enumerate(status.args[1:], start=1):
        p.connect(unpack, i, p.number(10 + 75 * (i - 1), y + 120, arg))
        p.comment(10 + 75 * (i - 1), y + 145, arg.name, width=72.0)
    for i, entry in enumerate(OUTGOING):
        p.connect(route, i, p.obj(10 + 110 * (i % 9), y + 190 + 30 * (i // 9), f"print {entry.command.replace('/', '-')}", outlets=0, width=105.0))
    notes = next(i for i, entry in enumerate(OUTGOING) if entry.command == NOTE_EVENT)
    _max_notes(p, route, notes, y + 190 + 30 * ((len(OUTGOING) + 8) // 9) + 20)
    return receive


# -- the arranger's notes -----------------------------------------------------------------------------
MAX_VOICE_PX = 150.0  # the width of one synth voice's column
MAX_NOTES_PX = 540.0  # the height of the notes' section, below the prints
SIGNAL = ["signal"]


def _max_notes(p: _MaxPatcher, route: str, outlet: int, y: float) -> None:
    """``<agent> <pitch> <velocity> <duration>`` (every agent, like the other events) -> [makenote],
    whose note-on and note-off (after the duration) go to [noteout] and to the synth."""
    p.comment(10, y, notes_help("noteout", "ezdac~", "click the loudspeaker (ezdac~) to turn audio on"), width=1100.0)
    unpack = p.obj(10, y + 40, "unpack s i i f", outlets=4, width=110.0, outlettype=["", "int", "int", "float"])
    makenote = p.obj(10, y + 70, f"makenote {NOTE_DEFAULTS}", inlets=3, outlets=2, width=110.0, outlettype=["float", "float"])
    p.connect(route, outlet, unpack)
    for arg in (3, 2, 1):  # duration, velocity (cold inlets), then pitch (hot)
        p.connect(unpack, arg, makenote, arg - 1)
    noteout = p.obj(10, y + 100, "noteout", inlets=3, outlets=0, width=60.0)
    for i in (0, 1):
        p.connect(makenote, i, noteout, i)
    _max_synth(p, makenote, y + 100)


def _max_synth(p: _MaxPatcher, makenote: str, y: float) -> None:
    """[poly] gives each note a voice ("voice pitch velocity") -> [route 1 .. N] -> the voices,
    summed into a gain (a number box sets it) -> both channels of [ezdac~], which turns audio on and off."""
    poly = p.obj(160, y, f"poly {NOTE_VOICES} 1", inlets=2, outlets=3, width=70.0, outlettype=["int", "int", "int"])
    pack = p.obj(160, y + 30, "pack i i i", inlets=3, width=70.0)
    voices = " ".join(str(v) for v in range(1, NOTE_VOICES + 1))
    route = p.obj(160, y + 60, f"route {voices}", inlets=2, outlets=NOTE_VOICES + 1, width=200.0)
    for i in (0, 1):
        p.connect(makenote, i, poly, i)
    for i in (0, 1, 2):
        p.connect(poly, i, pack, i)
    p.connect(pack, 0, route)
    level = p.add("flonum", 70, y + 330, inlets=1, outlets=2, outlettype=["", "bang"], width=60.0)
    p.comment(135, y + 330, f"gain (starts at {NOTE_GAIN:g})", width=160.0)
    gain = p.obj(10, y + 360, f"*~ {NOTE_GAIN:g}", inlets=2, width=50.0, outlettype=SIGNAL)
    p.connect(level, 0, gain, 1)
    for v in range(NOTE_VOICES):
        voice_in, voice_out = _max_voice(p, 10 + MAX_VOICE_PX * v, y + 100)
        p.connect(route, v, voice_in)
        p.connect(voice_out, 0, gain)
    dac = p.add("ezdac~", 10, y + 390, inlets=2, outlets=0, width=45.0, patching_rect=[10.0, y + 390, 45.0, 45.0])
    p.connect(gain, 0, dac, 0)
    p.connect(gain, 0, dac, 1)


def _max_voice(p: _MaxPatcher, x: float, y: float) -> tuple[str, str]:
    """One voice: ``pitch velocity`` -> a [cycle~] at mtof(pitch) times a [line~] envelope that rises
    to velocity/127 (a note-on) or falls to 0 (velocity 0: the note-off); returns (its input, its [*~])."""
    unpack = p.obj(x, y, "unpack i i", outlets=2, width=70.0, outlettype=["int", "int"])
    mtof = p.obj(x, y + 30, "mtof", width=45.0)
    select = p.obj(x + 55, y + 30, "sel 0", inlets=2, outlets=2, width=45.0, outlettype=["bang", ""])
    osc = p.obj(x, y + 60, "cycle~", inlets=2, width=50.0, outlettype=SIGNAL)
    release = p.message(x + 55, y + 90, f"0 {NOTE_RELEASE_MS}", width=40.0)
    level = p.obj(x + 100, y + 60, "/ 127.", inlets=2, width=45.0)
    attack = p.message(x + 100, y + 90, f"$1 {NOTE_ATTACK_MS}", width=40.0)
    envelope = p.obj(x + 55, y + 130, "line~", inlets=2, outlets=2, width=45.0, outlettype=["signal", "bang"])
    amp = p.obj(x, y + 170, "*~", inlets=2, width=45.0, outlettype=SIGNAL)
    for a, b in ((unpack, mtof), (mtof, osc), (osc, amp), (select, release), (release, envelope), (level, attack), (attack, envelope)):
        p.connect(a, 0, b)
    p.connect(unpack, 1, select)
    p.connect(select, 1, level)
    p.connect(envelope, 0, amp, 1)
    return unpack, amp


def _max_inlet(p: _MaxPatcher, send: str, receive: str) -> None:
    """[inlet]: connect <host> <port> -> udpsend host/port, listen <port> -> udpreceive port,
    anything else -> udpsend (the selector is the OSC address)."""
    inlet = p.add("inlet", 900, 40, inlets=0, outlets=1, width=30.0, comment=INLET_HELP, index=1)
    route = p.obj(900, 80, "route connect listen", inlets=2, outlets=3, width=130.0)
    p.connect(inlet, 0, route)
    unpack = p.obj(900, 120, "unpack s 0", outlets=2, width=80.0)
    host = p.obj(900, 160, "prepend host", inlets=2, width=80.0)
    port = p.obj(990, 160, "prepend port", inlets=2, width=80.0)
    listen = p.obj(1080, 160, "prepend port", inlets=2, width=80.0)
    p.connect(route, 0, unpack)
    p.connect(unpack, 0, host)
    p.connect(unpack, 1, port)
    p.connect(host, 0, send)
    p.connect(port, 0, send)
    p.connect(route, 1, listen)
    p.connect(listen, 0, receive)
    p.connect(route, 2, send)


def max_patch() -> dict:
    """The Max abstraction ``patchers/antiphon.maxpat``."""
    p = _MaxPatcher(1300, (len(INCOMING) + len(OUTGOING) + 10) * ROW_PX + MAX_NOTES_PX)
    p.comment(10, 5, f"{TITLE} Inlet: {INLET_HELP}.", width=1200.0)
    send = p.obj(700, 40, f"udpsend {SERVER_HOST} {SERVER_PORT}", outlets=0, width=160.0)
    y = _max_controls(p, send)
    receive = _max_receiver(p, y + ROW_PX)
    _max_inlet(p, send, receive)
    outlet = p.add("outlet", 160, y + 2 * ROW_PX, inlets=1, outlets=0, width=30.0, comment=OUTLET_HELP, index=1)
    p.connect(receive, 0, outlet)
    return p.json(f"OSC control of an Antiphon server ({HEADER})")


# -- its help and the overview ------------------------------------------------------------------------
def _max_addresses(p: _MaxPatcher, y: float) -> float:
    """Every address of the table as a comment line; returns the y below the last."""
    p.comment(10, y, ADDRESSES_TITLE)
    for entry in TABLE:
        y += 24
        p.comment(10, y, entry_line(entry), width=1200.0)
    return y + 24


def max_help() -> dict:
    """``help/antiphon.maxhelp``: an instance driven from message boxes, every address."""
    p = _MaxPatcher(1260, (len(TABLE) + 20) * 24)
    p.comment(10, 5, NAME, width=200.0, fontsize=24.0)
    p.comment(10, 40, f"Control an Antiphon server (antiphon serve) from Max ({HEADER}).")
    for i, line in enumerate(SERVE_HELP):
        p.comment(10, 65 + 22 * i, line, width=1200.0)
    p.comment(10, 135, f"Inlet: {INLET_HELP}. Outlet: {OUTLET_HELP}. Double-click the object to see its controls (agent '{AGENT}').",
              width=1200.0)
    messages = [p.message(10 + 190 * (i % 3), 165 + 30 * (i // 3), m, width=180.0) for i, m in enumerate(example_messages())]
    instance = p.obj(10, 235, NAME, inlets=1, outlets=1, width=80.0)
    for box in messages:
        p.connect(box, 0, instance)
    p.connect(instance, 0, p.obj(10, 270, f"print {NAME}", outlets=0, width=100.0))
    _max_addresses(p, 310.0)
    return p.json(f"help of the {NAME} abstraction")


def max_overview() -> dict:
    """``extras/antiphon-overview.maxpat``: the agent, how to start the server, the addresses, and openers."""
    p = _MaxPatcher(1260, (len(TABLE) + 24) * 24)
    p.comment(10, 5, "Antiphon", width=300.0, fontsize=24.0)
    about = (
        "Antiphon is a real-time musical agent: a performer plays into a microphone, Antiphon listens and answers with a second part",
        "(a bass under a melody, an accompaniment under a solo) assembled live from grains of a recorded corpus.",
        "The agent runs outside Max, in antiphon serve; Max drives it over OSC with the [antiphon] abstraction of this package.",
    )
    for i, line in enumerate(about + SERVE_HELP):
        p.comment(10, 45 + 22 * i, line, width=1200.0)
    y = 45 + 22 * (len(about) + len(SERVE_HELP)) + 10
    pcontrol = p.obj(420, y + 30, "pcontrol", width=70.0)
    for i, (target, label) in enumerate(((f"{NAME}.maxhelp", "open the help patch"), (f"{NAME}.maxpat", "open the controls (the abstraction)"))):
        box = p.message(10, y + 30 * i, f"load {target}", width=160.0)
        p.comment(180, y + 30 * i, label, width=230.0)
        p.connect(box, 0, pcontrol)
    p.comment(10, y + 65, f"Reference: right-click an [{NAME}] object > Open {NAME} Reference. Version {__version__}.", width=1200.0)
    _max_addresses(p, y + 100)
    return p.json("Antiphon: overview")
