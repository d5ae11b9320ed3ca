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
from agent.osc.table import FLOAT, INT, STRING, TABLE
from agent.osc.table import OUTGOING as OUTGOING_ENTRIES
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
