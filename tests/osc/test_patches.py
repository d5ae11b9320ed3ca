"""The Max and Pd patches against the OSC address table, read the way Max and Pd read them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from agent import paths
from agent.osc.messages import Refused, resolve
from agent.osc.patches import patch_files
from agent.osc.table import TABLE

PATCHES = paths.MAXPATCHES_DIR
AGENTS = {"answer"}


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


def pd_addresses(text: str) -> tuple[list[tuple[str, int]], set[str]]:
    objects, links = pd_graph(text)
    fmt = [i for i, o in enumerate(objects) if o[0] == "obj" and o[3] == "oscformat"]
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
    parse = [i for i, o in enumerate(objects) if o[0] == "obj" and o[3] == "oscparse"]
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
        else:
            received.add("/" + "/".join(path))

    for _, b, _ in links.get(parse[0], []):
        walk(b, [])
    return sent, received


# -- Max -----------------------------------------------------------------------------------------
def max_addresses(patch: dict) -> tuple[list[tuple[str, int]], set[str]]:
    boxes = {b["box"]["id"]: b["box"] for b in patch["patcher"]["boxes"]}
    lines = [ln["patchline"] for ln in patch["patcher"]["lines"]]
    for ln in lines:  # every cord joins existing boxes at existing outlets and inlets
        (a, outlet), (b, inlet) = ln["source"], ln["destination"]
        assert outlet < boxes[a]["numoutlets"] and inlet < boxes[b]["numinlets"], ln
    send = [i for i, b in boxes.items() if b.get("text", "").startswith("udpsend ")]
    receive = [i for i, b in boxes.items() if b.get("text", "").startswith("udpreceive ")]
    assert len(send) == 1 and len(receive) == 1
    sent = []
    for ln in lines:
        box = boxes[ln["source"][0]]
        if ln["destination"][0] == send[0] and box["maxclass"] == "message":
            tokens = box["text"].split()
            sent.append((tokens[0], len(tokens) - 1))
    received = set()
    for ln in lines:
        if ln["source"][0] == receive[0]:
            route = boxes[ln["destination"][0]]["text"].split()
            assert route[0] == "route"
            used = {x["source"][1] for x in lines if x["source"][0] == ln["destination"][0]}
            received |= {route[1 + k] for k in used if k < len(route) - 1}
    return sent, received


@pytest.mark.parametrize("kind", ["pd", "max"])
def test_patch_addresses_match_the_table(kind: str) -> None:
    if kind == "pd":
        sent, received = pd_addresses((PATCHES / "antiphon.pd").read_text())
    else:
        sent, received = max_addresses(json.loads((PATCHES / "antiphon.maxpat").read_text()))
    covered = set()
    for address, nargs in sent:
        try:
            entry = resolve(address, [0] * nargs, AGENTS).entry
        except Refused as refused:
            # a wrong argument count or range is fine here (dummy zeros); an unknown address is not
            assert "unknown address" not in refused.reason and "no agent" not in refused.reason, (address, refused.reason)
            entry = next(a for a in TABLE if a.direction == "in" and a.address_for("answer") == address)
        assert nargs == len(entry.args), (address, nargs)
        covered.add(entry.pattern)
    outgoing = {a.pattern for a in TABLE if a.direction == "out"}
    assert received <= outgoing, received - outgoing
    assert covered == {a.pattern for a in TABLE if a.direction == "in"}
    assert received == outgoing


def test_committed_patches_and_docs_are_what_the_table_writes() -> None:
    for name, text in patch_files().items():
        assert (PATCHES / name).read_text() == text, f"maxpatches/{name} is stale: run antiphon osc-patches"
    from agent.osc.table import markdown

    assert (paths.DOCS_DIR / "osc.md").read_text() == markdown(), "docs/osc.md is stale: run antiphon osc-table > docs/osc.md"


@pytest.mark.real_program("pd", "puredata-core")
@pytest.mark.parametrize("name", ["antiphon.pd", "antiphon-help.pd"])
def test_pd_opens_the_patches_without_errors(name: str) -> None:
    result = subprocess.run(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(PATCHES / name), "-send", "pd quit"],
                            capture_output=True, text=True, timeout=30, cwd=PATCHES)
    log = (result.stdout + result.stderr).lower()
    assert "error" not in log and "couldn't create" not in log, log
