"""The Max package's metadata: ``package-info.json`` (as a dictionary) and the abstraction's
reference page ``docs/refpages/antiphon/antiphon.maxref.xml``, its messages taken from the table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent import __version__
from agent.osc.patches.abstraction import (
    AGENT, HEADER, INCOMING, INLET_HELP, LOCAL_MESSAGES, OUTGOING, OUTLET_HELP, REPLY_PORT, SERVER_HOST, SERVER_PORT,
)
from agent.osc.patches.folders import MAX_VERSION_MIN, NAME, OVERVIEW
from agent.osc.table import FLOAT, INT, STRING, TYPE_NAMES, Address

MAX_TYPES = {FLOAT: "float", INT: "int", STRING: "symbol"}  # the refpage's argument types


def package_info() -> dict:
    """``package-info.json`` (the fields of Max 8/9 packages)."""
    return {
        "name": NAME,
        "displayname": "Antiphon",
        "version": __version__,
        "author": "Antiphon maintainers",
        "authors": [],
        "description": "Drive Antiphon, a real-time musical agent that answers a performer with a complementary part, over OSC "
                       f"(the agent runs in `antiphon serve`, started from a terminal). The [{NAME}] abstraction, its help, a reference "
                       "page and an overview.",
        "tags": ["OSC", "machine learning", "accompaniment", "live", "agent"],
        "website": "",
        "extends": "",
        "extensible": 0,
        "max_version_min": MAX_VERSION_MIN,
        "max_version_max": "none",
        "os": {"macintosh": {"platform": ["x64", "arm64"], "min_version": "none"},
               "windows": {"platform": ["x64"], "min_version": "none"}},
        "homepatcher": OVERVIEW,
    }


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _ref_method(methods: ET.Element, name: str, args: list[tuple[str, str]], digest: str, description: str) -> None:
    method = _sub(methods, "method", name=name)
    arglist = _sub(method, "arglist")
    for arg_name, arg_type in args:
        _sub(arglist, "arg", name=arg_name, optional="0", type=arg_type)
    _sub(method, "digest", digest)
    _sub(method, "description", description)


def _arg_description(entry: Address) -> str:
    parts = [f"{a.name}: {TYPE_NAMES[a.type]}{', ' + a.range_text if a.range_text else ''}{' ' + a.unit if a.unit else ''}" for a in entry.args]
    return f"{entry.help}." + (f" Arguments: {'; '.join(parts)}." if parts else "")


def _ref_messages(root: ET.Element) -> None:
    """The messages the abstraction takes (its own, then the table's incoming addresses) and those it gives out."""
    methods = _sub(root, "methodlist")
    for name, args, help_text in LOCAL_MESSAGES:
        _ref_method(methods, name, list(args), help_text, f"{help_text}.")
    for entry in INCOMING:
        args = [(a.name, MAX_TYPES[a.type]) for a in entry.args]
        _ref_method(methods, entry.pattern, args, entry.help, _arg_description(entry))
    received = _sub(root, "misc", name="Output")
    for entry in OUTGOING:
        item = _sub(received, "entry", name=entry.pattern)
        _sub(item, "description", _arg_description(entry))


def maxref() -> str:
    """``docs/refpages/antiphon/antiphon.maxref.xml``: the abstraction's reference page."""
    root = ET.Element("c74object", name=NAME, module=NAME, category="Antiphon")
    _sub(root, "digest", "Control an Antiphon server (a real-time musical agent) over OSC")
    _sub(root, "description", f"Sends OSC to antiphon serve ({SERVER_HOST}:{SERVER_PORT}) and receives its status, events and errors "
                              f"on port {REPLY_PORT}; its controls address the agent '{AGENT}'. {HEADER.capitalize()}.")
    metadata = _sub(root, "metadatalist")
    _sub(metadata, "metadata", "Antiphon maintainers", name="author")
    for tag in package_info()["tags"]:
        _sub(metadata, "metadata", tag, name="tag")
    _sub(_sub(_sub(root, "inletlist"), "inlet", id="0", type="anything"), "digest", INLET_HELP)
    _sub(_sub(_sub(root, "outletlist"), "outlet", id="0", type="anything"), "digest", OUTLET_HELP)
    _ref_messages(root)
    seealso = _sub(root, "seealsolist")
    for name in ("udpsend", "udpreceive"):
        _sub(seealso, "seealso", name=name)
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
