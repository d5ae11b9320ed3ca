"""The Max package and the Pd abstraction folder against the OSC address table, read the way Max and
Pd read them; the committed maxpatches/ against what ``antiphon osc-patches`` writes now; and a real
Pd that finds the abstraction on its path and talks to a real server through it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import agent
from agent import paths
from agent.cli import main
from agent.osc.messages import Refused, resolve
from agent.osc.patches import patch_files
from agent.osc.patches.abstraction import NOTE_EVENT, NOTE_VOICES, REPLY_PORT
from agent.osc.table import FLOAT, INT, PREFIX, STRING, TABLE
from agent.osc.table import OUTGOING as OUTGOING_ENTRIES
from tests.osc.osc_client import message as osc_message
from tests.osc.test_pd_roundtrip import DEADLINE_S, PdOutput, stop_pd

PATCHES = paths.MAXPATCHES_DIR
PACKAGE = PATCHES / "antiphon"  # the Max package
PD = PATCHES / "pd" / "antiphon"  # the Pd abstraction folder
MAX_ABSTRACTION = PACKAGE / "patchers" / "antiphon.maxpat"
MAX_HELP = PACKAGE / "help" / "antiphon.maxhelp"
MAX_OVERVIEW = PACKAGE / "extras" / "antiphon-overview.maxpat"
REFPAGE = PACKAGE / "docs" / "refpages" / "antiphon" / "antiphon.maxref.xml"
PD_ABSTRACTION = PD / "antiphon.pd"
PD_HELP = PD / "antiphon-help.pd"
AGENTS = {"answer"}
LOCAL = {"connect": 2, "listen": 1}  # the abstraction's own messages and their argument counts
INCOMING = {a.pattern for a in TABLE if a.direction == "in"}
OUTGOING = {a.pattern for a in TABLE if a.direction == "out"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


def table_entry(address: str, nargs: int):
    """The incoming table entry an address sent by a patch resolves to (for the agent 'answer')."""
    try:
        return resolve(address, [0] * nargs, AGENTS).entry
    except Refused as refused:
        # a wrong argument count or range is fine here (dummy zeros); an unknown address is not
        assert "unknown address" not in refused.reason and "no agent" not in refused.reason, (address, refused.reason)
        return next(a for a in TABLE if a.direction == "in" and a.address_for("answer") == address)


def check_example(message: str) -> None:
    """A message a help patch sends into the abstraction: one of its own, or an address of the table."""
    atoms = message.split()
    if atoms[0] in LOCAL:
        assert len(atoms) - 1 == LOCAL[atoms[0]], message
        return
    assert len(atoms) - 1 == len(table_entry(atoms[0], len(atoms) - 1).args), message


# -- Pd ------------------------------------------------------------------------------------------
def pd_records(text: str) -> list[list[str]]:
    records = re.split(r"(?<!\\);\s*\n", text)
    return [re.split(r"(?<!\\)\s+", r.strip()) for r in records if r.strip()]


def pd_graph(text: str) -> tuple[list[list[str]], dict[int, list[tuple[int, int, int]]]]:
    objects, links = [], {}
    for rec in pd_records(text):
        if rec[0] == "#X" and rec[1] == "connect":
            a, outlet, b, inlet = map(int, rec[2:6])
            links.setdefault(a, []).append((outlet, b, inlet))
        elif rec[0] == "#X":
            objects.append(rec[1:])
    return objects, links


def pd_find(objects: list[list[str]], *words: str) -> list[int]:
    return [i for i, o in enumerate(objects) if o[0] == "obj" and o[3:3 + len(words)] == list(words)]


def pd_addresses(text: str) -> tuple[list[tuple[str, int]], set[str]]:
    objects, links = pd_graph(text)
    fmt = pd_find(objects, "oscformat")
    assert len(fmt) == 1
    sent = []
    for i, o in enumerate(objects):
        if o[0] != "msg" or not any(b == fmt[0] for _, b, _ in links.get(i, [])):
            continue
        content = " ".join(o[3:])
        address = None
        for part in re.split(r"\s*\\,\s*", content):
            atoms = part.split()
            if atoms[0] == "set":
                address = "/" + "/".join(atoms[1:])
            elif atoms[0] == "list":
                sent.append((address, len(atoms) - 1))
    received: set[str] = set()
    parse = pd_find(objects, "oscparse")
    assert len(parse) == 1

    def walk(i: int, path: list[str]) -> None:
        o = objects[i]
        if o[0] == "obj" and o[3] == "route":
            for outlet, b, _ in links.get(i, []):
                if outlet < len(o) - 4:
                    walk(b, path + [o[4 + outlet]])
        elif o[0] == "obj" and o[3:5] == ["list", "trim"]:
            for _, b, _ in links.get(i, []):
                walk(b, path)
        elif o[0] == "obj" and o[3] == "outlet":
            return  # the abstraction's outlet passes everything on, unrouted
        else:
            received.add("/" + "/".join(path))

    for _, b, _ in links.get(parse[0], []):
        walk(b, [])
    return sent, received


def pd_texts(text: str) -> str:
    """The comments of a Pd patch, unescaped as Pd shows them."""
    objects, _ = pd_graph(text)
    lines = [re.sub(r", f \d+$", "", " ".join(o[3:])) for o in objects if o[0] == "text"]  # ", f N": the box width
    return "\n".join(line.replace(" \\,", ",").replace(" \\;", ";").replace("\\", "") for line in lines)


# -- Max -----------------------------------------------------------------------------------------
def max_boxes(patch: dict) -> tuple[dict[str, dict], list[dict]]:
    """Boxes by id and cords, after checking the patcher format: unique ids, and every cord joins
    existing boxes at existing outlets and inlets."""
    boxes = [b["box"] for b in patch["patcher"]["boxes"]]
    by_id = {b["id"]: b for b in boxes}
    assert len(by_id) == len(boxes), "box ids are not unique"
    for box in boxes:
        assert isinstance(box["maxclass"], str) and len(box["patching_rect"]) == 4, box
        assert isinstance(box["numinlets"], int) and isinstance(box["numoutlets"], int), box
        assert len(box.get("outlettype", [])) == box["numoutlets"], box
    lines = [ln["patchline"] for ln in patch["patcher"]["lines"]]
    for ln in lines:
        (a, outlet), (b, inlet) = ln["source"], ln["destination"]
        assert a in by_id and b in by_id, ln
        assert 0 <= outlet < by_id[a]["numoutlets"] and 0 <= inlet < by_id[b]["numinlets"], ln
    return by_id, lines


def max_one(boxes: dict[str, dict], prefix: str) -> str:
    """The one object box whose text begins with the word ``prefix``."""
    found = [i for i, b in boxes.items() if b["maxclass"] == "newobj" and b["text"].split(" ")[0] == prefix]
    assert len(found) == 1, (prefix, found)
    return found[0]


def max_addresses(patch: dict) -> tuple[list[tuple[str, int]], set[str]]:
    boxes, lines = max_boxes(patch)
    send, receive = max_one(boxes, "udpsend"), max_one(boxes, "udpreceive")
    sent = []
    for ln in lines:
        box = boxes[ln["source"][0]]
        if ln["destination"][0] == send and box["maxclass"] == "message":
            tokens = box["text"].split()
            sent.append((tokens[0], len(tokens) - 1))
    received = set()
    for ln in lines:
        destination = boxes[ln["destination"][0]]
        if ln["source"][0] == receive and destination.get("text", "").startswith("route "):
            route = destination["text"].split()
            used = {x["source"][1] for x in lines if x["source"][0] == destination["id"]}
            received |= {route[1 + k] for k in used if k < len(route) - 1}
    return sent, received


def max_texts(patch: dict) -> str:
    return "\n".join(b["box"].get("text", "") for b in patch["patcher"]["boxes"] if b["box"]["maxclass"] == "comment")


def reaches(lines: list[dict], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for ln in lines:
            if ln["source"][0] == here and ln["destination"][0] not in seen:
                seen.add(ln["destination"][0])
                todo.append(ln["destination"][0])
    return goal in seen


# -- the abstractions against the table -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pd", "max"])
def test_abstraction_addresses_match_the_table(kind: str) -> None:
    if kind == "pd":
        sent, received = pd_addresses(PD_ABSTRACTION.read_text())
    else:
        sent, received = max_addresses(json.loads(MAX_ABSTRACTION.read_text()))
    covered = set()
    for address, nargs in sent:
        entry = table_entry(address, nargs)
        assert nargs == len(entry.args), (address, nargs)
        covered.add(entry.pattern)
    assert received <= OUTGOING, received - OUTGOING
    assert covered == INCOMING
    assert received == OUTGOING


def test_every_address_is_in_the_help_patches_and_the_overview() -> None:
    documents = {
        "Max help": max_texts(json.loads(MAX_HELP.read_text())),
        "Max overview": max_texts(json.loads(MAX_OVERVIEW.read_text())),
        "Pd help": pd_texts(PD_HELP.read_text()),
    }
    for name, text in documents.items():
        for entry in TABLE:
            arrow = "->" if entry.direction == "in" else "<-"
            assert f"{arrow} {entry.pattern}" in text, (name, entry.pattern)
            assert entry.help in text, (name, entry.pattern, "help text")


def test_refpage_lists_every_address_with_its_arguments() -> None:
    root = ET.parse(REFPAGE).getroot()
    assert root.tag == "c74object" and root.get("name") == "antiphon"
    assert (root.findtext("digest") or "").strip()
    methods = {m.get("name"): m for m in root.iter("method")}
    assert set(methods) == INCOMING | set(LOCAL)
    max_type = {FLOAT: "float", INT: "int", STRING: "symbol"}
    for entry in TABLE:
        if entry.direction == "in":
            args = [(a.get("name"), a.get("type")) for a in methods[entry.pattern].iter("arg")]
            assert args == [(a.name, max_type[a.type]) for a in entry.args], entry.pattern
            assert methods[entry.pattern].findtext("digest") == entry.help
    for name, count in LOCAL.items():
        assert len(list(methods[name].iter("arg"))) == count, name
    output = {e.get("name") for misc in root.iter("misc") for e in misc.iter("entry")}
    assert output == OUTGOING
    assert [i.get("id") for i in root.iter("inlet")] == ["0"] and [o.get("id") for o in root.iter("outlet")] == ["0"]


# -- the Max package ------------------------------------------------------------------------------
def test_package_info_is_valid_and_carries_the_agent_version() -> None:
    info = json.loads((PACKAGE / "package-info.json").read_text())
    assert info["name"] == PACKAGE.name  # Max: name the package as its folder
    assert info["version"] == agent.__version__ and SEMVER.match(info["version"])
    for field in ("displayname", "author", "description", "max_version_min", "max_version_max"):
        assert isinstance(info[field], str) and info[field].strip(), field
    assert re.match(r"^\d+\.\d+$", info["max_version_min"]) and int(info["max_version_min"].split(".")[0]) >= 8
    assert set(info["os"]) == {"macintosh", "windows"} and all(os["platform"] for os in info["os"].values())
    assert isinstance(info["tags"], list) and info["tags"]
    assert (PACKAGE / "extras" / info["homepatcher"]).is_file()


@pytest.mark.parametrize("path", [MAX_ABSTRACTION, MAX_HELP, MAX_OVERVIEW], ids=lambda p: p.name)
def test_max_patchers_are_in_max_format(path: Path) -> None:
    patch = json.loads(path.read_text())
    assert patch["patcher"]["fileversion"] == 1 and patch["patcher"]["appversion"]["major"] >= 8
    boxes, _ = max_boxes(patch)
    assert boxes


def test_max_abstraction_has_an_inlet_to_the_server_and_an_outlet_from_it() -> None:
    boxes, lines = max_boxes(json.loads(MAX_ABSTRACTION.read_text()))
    inlets = [i for i, b in boxes.items() if b["maxclass"] == "inlet"]
    outlets = [i for i, b in boxes.items() if b["maxclass"] == "outlet"]
    assert len(inlets) == 1 and len(outlets) == 1
    send, receive = max_one(boxes, "udpsend"), max_one(boxes, "udpreceive")
    assert reaches(lines, inlets[0], send) and reaches(lines, inlets[0], receive)  # messages; connect, listen
    assert reaches(lines, receive, outlets[0])
    route = next(ln["destination"][0] for ln in lines if ln["source"][0] == inlets[0])  # connect, listen, anything else
    assert boxes[route]["text"].split()[1:] == sorted(LOCAL)
    assert any(ln["source"] == [route, len(LOCAL)] and ln["destination"][0] == send for ln in lines)


def test_max_help_drives_one_abstraction_with_valid_messages() -> None:
    boxes, lines = max_boxes(json.loads(MAX_HELP.read_text()))
    instance = max_one(boxes, "antiphon")
    abstraction, _ = max_boxes(json.loads(MAX_ABSTRACTION.read_text()))
    assert boxes[instance]["numinlets"] == sum(b["maxclass"] == "inlet" for b in abstraction.values())
    assert boxes[instance]["numoutlets"] == sum(b["maxclass"] == "outlet" for b in abstraction.values())
    examples = [boxes[ln["source"][0]]["text"] for ln in lines if ln["destination"][0] == instance]
    assert examples
    for message in examples:
        check_example(message)


def test_max_overview_opens_files_of_the_package() -> None:
    boxes, lines = max_boxes(json.loads(MAX_OVERVIEW.read_text()))
    pcontrol = max_one(boxes, "pcontrol")
    loads = [boxes[ln["source"][0]]["text"].split() for ln in lines if ln["destination"][0] == pcontrol]
    assert loads
    package_files = {p.name for p in PACKAGE.rglob("*") if p.is_file()}
    for words in loads:
        assert words[0] == "load" and words[1] in package_files, words


# -- the committed files ----------------------------------------------------------------------------
def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_committed_maxpatches_are_what_osc_patches_writes(tmp_path: Path) -> None:
    assert main(["--quiet", "osc-patches", "--out", str(tmp_path)]) == 0
    written, committed = tree(tmp_path), tree(PATCHES)
    assert set(committed) == set(written), (
        f"maxpatches/ is stale: not written by osc-patches {sorted(set(committed) - set(written))}, "
        f"missing {sorted(set(written) - set(committed))}; run antiphon osc-patches (and remove the others)")
    for name, data in written.items():
        assert committed[name] == data, f"maxpatches/{name} is stale: run antiphon osc-patches"
    assert {p.as_posix() for p in patch_files()} == set(written)


def test_docs_are_what_the_table_writes() -> None:
    from agent.osc.table import markdown

    assert (paths.DOCS_DIR / "osc.md").read_text() == markdown(), "docs/osc.md is stale: run antiphon osc-table > docs/osc.md"


@pytest.mark.parametrize("doc", ["README.md", "maxpatches/README.md"])
def test_the_maxpatches_paths_named_in_the_docs_exist(doc: str) -> None:
    named = set(re.findall(r"maxpatches/[\w./-]*\w", (paths.REPO_ROOT / doc).read_text()))
    assert {"maxpatches/antiphon", "maxpatches/pd/antiphon"} <= named, named
    for path in named:
        assert (paths.REPO_ROOT / path).exists(), f"{doc} names {path}, which does not exist"


# -- Pd, for real -----------------------------------------------------------------------------------
def test_pd_help_drives_one_abstraction_with_valid_messages() -> None:
    objects, links = pd_graph(PD_HELP.read_text())
    instance = pd_find(objects, "antiphon")
    assert len(instance) == 1
    examples = [" ".join(o[3:]) for i, o in enumerate(objects) if o[0] == "msg" and any(b == instance[0] for _, b, _ in links.get(i, []))]
    assert examples
    for message in examples:
        check_example(message)
    objects, _ = pd_graph(PD_ABSTRACTION.read_text())
    assert len(pd_find(objects, "inlet")) == 1 and len(pd_find(objects, "outlet")) == 1


@pytest.mark.real_program("pd", "puredata-core")
@pytest.mark.parametrize("path", [PD_ABSTRACTION, PD_HELP], ids=lambda p: p.name)
def test_pd_opens_the_patches_without_errors(path: Path) -> None:
    result = subprocess.run(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(path), "-send", "pd quit"],
                            capture_output=True, text=True, timeout=30, cwd=path.parent)
    log = (result.stdout + result.stderr).lower()
    assert "error" not in log and "couldn't create" not in log, log


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pd_path(path: Path) -> str:
    return str(path.resolve()).replace(" ", "\\ ")


USER_PATCH = """#N canvas 0 50 700 300 12;
#X declare -path {folder};
#X obj 300 10 declare -path {folder};
#X obj 10 10 loadbang;
#X obj 10 40 delay 300;
#X msg 10 70 listen {listen} \\, connect 127.0.0.1 {server} \\, /antiphon/register {listen} \\, /antiphon/answer/temperature 0.3 \\, /antiphon/answer/mute 1 \\, /antiphon/nobody/start \\, /antiphon/status;
#X obj 10 100 antiphon;
#X obj 10 130 print pd-got;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
#X connect 3 0 4 0;
#X connect 4 0 5 0;
"""  # objects: 0 declare, 1 loadbang, 2 delay, 3 messages, 4 [antiphon], 5 print


@pytest.mark.real_program("pd", "puredata-core")
def test_pd_finds_the_abstraction_on_its_path_and_talks_to_the_server(server, tmp_path: Path) -> None:
    """A user's patch elsewhere declares the folder on its path, creates [antiphon], points it at the
    server with connect/listen and sends through its inlet; what the server answers comes out of its outlet."""
    srv, _ = server
    listen = free_udp_port()
    patch = tmp_path / "user.pd"
    patch.write_text(USER_PATCH.format(folder=pd_path(PD), listen=listen, server=srv.address[1]))
    pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    output = PdOutput(pd)
    expected = [
        "pd-got: antiphon event set answer temperature 0.3",
        "pd-got: antiphon event set answer mute 1",
        "pd-got: antiphon error /antiphon/nobody/start no agent named 'nobody' (agents: answer, second)",
    ]
    try:
        end = time.monotonic() + DEADLINE_S
        while not (all(e in output.got() for e in expected) and any(g.startswith("pd-got: antiphon status answer ") for g in output.got())):
            assert pd.poll() is None and time.monotonic() < end, f"Pd got {output.got()}; its output: {output.text()}"
            time.sleep(0.05)
    finally:
        stop_pd(pd, output)
    assert "couldn't create" not in output.text(), output.text()
    statuses = [g for g in output.got() if g.startswith("pd-got: antiphon status answer ")]
    assert all(len(g.split()) == 3 + len(OUTGOING_ENTRIES["status"].args) for g in statuses), statuses
    voice = srv.engine.voice("answer")
    assert voice.agent.config.temperature == pytest.approx(0.3) and voice.agent.config.muted


# -- the arranger: its controls, and its notes played -------------------------------------------------
ARRANGER_CONTROLS = {"tempo": "number", "follow": "toggle"}  # command -> the control it gets
NOTE_ADDRESS = f"{PREFIX}/{NOTE_EVENT}"
PD_CHAR_PX, PD_BOX_PX = 7, 21  # a character's width and a box's height in a Pd patch at font size 12


def pd_reaches(links: dict[int, list[tuple[int, int, int]]], start: int, goal: int) -> bool:
    """Whether a chain of Pd connections leads from object ``start`` to object ``goal``."""
    seen, todo = {start}, [start]
    while todo:
        for _, b, _ in links.get(todo.pop(), []):
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return goal in seen


def pd_feeding(objects: list[list[str]], links: dict[int, list[tuple[int, int, int]]], target: int) -> list[list[str]]:
    """The objects connected into object ``target``."""
    return [objects[a] for a, out in links.items() if any(b == target for _, b, _ in out)]


def pd_rect(o: list[str]) -> tuple[int, int, int, int]:
    """An object's box in a Pd patch (x, y, width, height), its width estimated from its text."""
    x, y = int(o[1]), int(o[2])
    if o[0] == "floatatom":
        return x, y, int(o[3]) * PD_CHAR_PX + 4, PD_BOX_PX
    if o[0] == "obj" and o[3] in ("tgl", "bng"):
        return x, y, int(o[4]), int(o[4])
    return x, y, len(" ".join(o[3:]).replace("\\", "")) * PD_CHAR_PX + 6, PD_BOX_PX


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two boxes (x, y, width, height) overlap."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_pd_arranger_controls_are_a_number_box_and_a_toggle() -> None:
    objects, links = pd_graph(PD_ABSTRACTION.read_text())
    for command, control in ARRANGER_CONTROLS.items():
        (message,) = [i for i, o in enumerate(objects) if o[0] == "msg" and o[3:7] == ["set", "antiphon", "answer", command]]
        (feeder,) = pd_feeding(objects, links, message)
        if control == "toggle":
            assert feeder[0] == "obj" and feeder[3] == "tgl", feeder
        else:
            arg = next(a for a in TABLE if a.direction == "in" and a.command == command).args[0]
            assert feeder[0] == "floatatom" and [float(v) for v in feeder[4:6]] == [min(arg.low, *arg.also), arg.high], feeder


def test_max_arranger_controls_are_a_number_box_and_a_toggle() -> None:
    boxes, lines = max_boxes(json.loads(MAX_ABSTRACTION.read_text()))
    for command, control in ARRANGER_CONTROLS.items():
        (message,) = [i for i, b in boxes.items() if b["maxclass"] == "message" and b["text"] == f"{PREFIX}/answer/{command} $1"]
        (feeder,) = [boxes[ln["source"][0]]["maxclass"] for ln in lines if ln["destination"][0] == message]
        assert feeder == ("toggle" if control == "toggle" else "flonum"), (command, feeder)


def test_pd_abstraction_routes_event_note_to_makenote_noteout_and_dac() -> None:
    """/antiphon/event/note -> [unpack s f f f] -> [makenote] (duration, velocity, then pitch) ->
    [noteout] and the voices ([osc~] x [vline~]) -> both channels of [dac~]."""
    objects, links = pd_graph(PD_ABSTRACTION.read_text())
    (events,) = [i for i in pd_find(objects, "route") if "note" in objects[i][4:]]
    outlet = objects[events][4:].index("note")
    (unpack,) = [b for o, b, _ in links[events] if o == outlet and objects[b][3:4] == ["unpack"]]
    assert objects[unpack][3:] == ["unpack", "s", "f", "f", "f"]
    (makenote,), (noteout,), (dac,) = pd_find(objects, "makenote"), pd_find(objects, "noteout"), pd_find(objects, "dac~")
    assert sorted((o, i) for o, b, i in links[unpack] if b == makenote) == [(1, 0), (2, 1), (3, 2)]
    assert sorted((o, i) for o, b, i in links[makenote] if b == noteout) == [(0, 0), (1, 1)]
    oscillators, envelopes = pd_find(objects, "osc~"), pd_find(objects, "vline~")
    assert len(oscillators) == len(envelopes) == NOTE_VOICES
    assert all(pd_reaches(links, makenote, o) and pd_reaches(links, o, dac) for o in oscillators + envelopes)
    assert {i for a, out in links.items() for _, b, i in out if b == dac} == {0, 1}


def max_cords(lines: list[dict], a: str, b: str) -> list[tuple[int, int]]:
    """The (outlet, inlet) pairs of the cords from box ``a`` to box ``b``, sorted."""
    return sorted((ln["source"][1], ln["destination"][1]) for ln in lines if ln["source"][0] == a and ln["destination"][0] == b)


def max_targets(boxes: dict[str, dict], lines: list[dict], source: str, outlet: int | None = None) -> list[dict]:
    """The boxes cords lead to from box ``source`` (from one ``outlet`` of it, or any)."""
    return [boxes[ln["destination"][0]] for ln in lines
            if ln["source"][0] == source and (outlet is None or ln["source"][1] == outlet)]


def test_max_abstraction_routes_event_note_to_makenote_noteout_and_ezdac() -> None:
    """/antiphon/event/note -> [unpack s i i f] -> [makenote] -> [noteout] and the voices
    ([cycle~] x [line~]) -> both channels of [ezdac~]."""
    boxes, lines = max_boxes(json.loads(MAX_ABSTRACTION.read_text()))
    (route,) = [b for b in max_targets(boxes, lines, max_one(boxes, "udpreceive")) if NOTE_ADDRESS in b.get("text", "").split()]
    outlet = route["text"].split()[1:].index(NOTE_ADDRESS)
    (unpack,) = [b for b in max_targets(boxes, lines, route["id"], outlet) if b.get("text", "").startswith("unpack")]
    assert unpack["text"] == "unpack s i i f"
    makenote, noteout = max_one(boxes, "makenote"), max_one(boxes, "noteout")
    assert max_cords(lines, unpack["id"], makenote) == [(1, 0), (2, 1), (3, 2)]  # pitch, velocity, duration
    assert max_cords(lines, makenote, noteout) == [(0, 0), (1, 1)]
    (dac,) = [i for i, b in boxes.items() if b["maxclass"] == "ezdac~"]
    voices = [i for i, b in boxes.items() if b["maxclass"] == "newobj" and b["text"].split()[0] in ("cycle~", "line~")]
    assert len(voices) == 2 * NOTE_VOICES
    assert all(reaches(lines, makenote, v) and reaches(lines, v, dac) for v in voices)
    assert {ln["destination"][1] for ln in lines if ln["destination"][0] == dac} == {0, 1}


def test_max_abstraction_boxes_do_not_overlap() -> None:
    boxes, _ = max_boxes(json.loads(MAX_ABSTRACTION.read_text()))
    rects = [(i, b["patching_rect"]) for i, b in boxes.items()]
    clashes = [(a, b) for k, (a, ra) in enumerate(rects) for b, rb in rects[k + 1:] if overlap(ra, rb)]
    assert not clashes, clashes


def test_pd_note_section_boxes_do_not_overlap() -> None:
    """The boxes of the notes' section (from their [unpack] down) overlap neither each other nor anything
    else (widths estimated from the text)."""
    objects, _ = pd_graph(PD_ABSTRACTION.read_text())
    boxes = [(i, pd_rect(o)) for i, o in enumerate(objects) if o[0] in ("obj", "msg", "floatatom")]
    (top,) = [pd_rect(o)[1] for o in objects if o[0] == "obj" and o[3:] == ["unpack", "s", "f", "f", "f"]]
    clashes = [(a, b) for k, (a, ra) in enumerate(boxes) for b, rb in boxes[k + 1:]
               if max(ra[1], rb[1]) >= top and overlap(ra, rb)]
    assert not clashes, [(" ".join(objects[a][3:]), " ".join(objects[b][3:])) for a, b in clashes]


def pd_levels(output: PdOutput) -> list[float]:
    """The synth's output level (dB, 100 = full scale) Pd printed, oldest first."""
    return [float(line.split()[1]) for line in output.text().splitlines() if line.startswith("level:")]


@pytest.mark.real_program("pd", "puredata-core")
def test_pd_plays_a_note_on_midi_and_audio(tmp_path: Path) -> None:
    """A copy of the abstraction whose [noteout 1] prints (midi: pitch velocity) and whose [dac~] feeds
    [env~] -> print (level: dB) gets /antiphon/event/note over UDP: the note-on and, after the note's
    duration, the note-off come out, and the synth sounds while the note lasts and falls silent after."""
    listen = free_udp_port()
    text = PD_ABSTRACTION.read_text().replace(f"netreceive -u -b {REPLY_PORT};", f"netreceive -u -b {listen};")
    objects, _ = pd_graph(text)
    (noteout,), (dac,) = pd_find(objects, "noteout"), pd_find(objects, "dac~")
    text = re.sub(r"^(#X obj \d+ \d+) noteout 1;$", r"\1 pack f f;", text, flags=re.M)  # two inlets, like pitch and velocity
    text = re.sub(r"^(#X obj \d+ \d+) dac~;$", r"\1 +~;", text, flags=re.M)  # two signal inlets, summed
    n = len(objects)
    text += (f"#X obj 1000 10 print midi;\n#X obj 1100 10 env~ 4096;\n#X obj 1100 40 print level;\n"
             f"#X connect {noteout} 0 {n} 0;\n#X connect {dac} 0 {n + 1} 0;\n#X connect {n + 1} 0 {n + 2} 0;\n")
    patch = tmp_path / "antiphon.pd"
    patch.write_text(text)
    pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch), "-send", "pd dsp 1"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    output = PdOutput(pd)
    note = osc_message(NOTE_ADDRESS, "answer", 69, 100, 300.0, types="siif")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            end = time.monotonic() + DEADLINE_S
            while "midi: 69 100" not in output.text():  # until Pd listens and plays it
                assert pd.poll() is None and time.monotonic() < end, output.text()
                sender.sendto(note, ("127.0.0.1", listen))
                time.sleep(0.5)
        while "midi: 69 0" not in output.text() or not pd_levels(output) or pd_levels(output)[-1] > 0:
            assert pd.poll() is None and time.monotonic() < end, output.text()
            time.sleep(0.05)
    finally:
        stop_pd(pd, output)
    log = output.text()
    assert "error" not in log.lower() and "couldn't create" not in log, log
    assert max(pd_levels(output)) > 60, log  # a sine at velocity 100 and gain 0.1, on both channels: about 81 dB
