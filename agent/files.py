"""Small file helpers shared by the corpus and model formats: hashing, atomic JSON, typed configs from JSON, output places."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from agent.errors import AntiphonError

MAX_JSON_BYTES = 64 << 20  # a model config or corpus manifest is kilobytes; a bigger file is not read into memory


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, files: dict[str, Any], name: str, listed_in: Path) -> None:
    """Check that ``path`` exists and matches the hash recorded as ``files[name]`` in ``listed_in``."""
    if not path.is_file():
        raise AntiphonError(f"{path}: missing")
    expected = files.get(name)
    if not isinstance(expected, str):
        raise AntiphonError(f"{listed_in}: records no hash for {name}")
    if sha256_file(path) != expected:
        raise AntiphonError(f"{path}: checksum does not match {listed_in.name} (file changed, truncated or corrupt)")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), pretty-printed, UTF-8."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object, or raise a one-line AntiphonError naming the file (also for one over MAX_JSON_BYTES)."""
    if not path.is_file():
        raise AntiphonError(f"{path}: missing ({what})")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise AntiphonError(f"{path}: {size:,} bytes, more than any {what} ({MAX_JSON_BYTES:,} at most)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AntiphonError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise AntiphonError(f"{path}: expected a JSON object ({what}), got {type(data).__name__}")
    return data


def json_object_or_none(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def check_replaceable(folder: Path, owns: Callable[[Path], bool], what: str, manifest: str) -> None:
    """Before ``--force`` deletes ``folder``: pass when it is missing, empty or ``owns(folder)`` (it
    holds the tool's own ``manifest``); otherwise refuse in one line, so that nothing foreign is deleted."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise AntiphonError(f"{folder} is a file, not a {what} folder: --force replaces only a {what} folder")
    if any(folder.iterdir()) and not owns(folder):
        raise AntiphonError(f"{folder} holds files but no {manifest}: --force replaces only a {what} folder (move or delete it yourself)")


def _writable_folder(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def check_output_place(path: Path, option: str = "--out", folder: bool = True) -> None:
    """Before a command does any work: refuse in one line an output it could not write at the end.

    ``path`` is a folder to write into (``folder``) or a file to write; either may exist (a tool's
    own --force/--resume rules decide what it may replace). Refused: a folder output that exists and
    is not a folder (a file, a dangling link), a file output that is a folder, an existing folder
    that is not writable, and a place whose nearest existing parent is not a writable folder.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            raise AntiphonError(f"{option} {path} exists and is not a folder")
        if not folder and path.is_dir():
            raise AntiphonError(f"{option} {path} is a folder, not a file")
        if folder and not _writable_folder(path):
            raise AntiphonError(f"{option} {path}: {path} is not a writable folder")
        if not folder and not _writable_folder(path.parent):
            raise AntiphonError(f"{option} {path}: {path.parent} is not a writable folder")
        return
    parent = path.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise AntiphonError(f"{option} {path}: {parent} is not a folder")
    if not _writable_folder(parent):
        raise AntiphonError(f"{option} {path}: {parent} is not a writable folder")


def invocation() -> str:
    """The command line that ran, to record beside what it made ("" when not run as ``antiphon``)."""
    return "antiphon " + " ".join(sys.argv[1:]) if Path(sys.argv[0]).name in ("antiphon", "__main__.py") else ""


def typed_config(cls: Any, data: Any, where: str, section: str, what: str | None = None) -> Any:
    """A config dataclass of int, float and str fields from JSON object ``section`` of the file
    ``where``, with one-line errors naming the field (``what`` names the fields of an unknown one;
    default: the section)."""
    if not isinstance(data, dict):
        raise AntiphonError(f"{where}: '{section}' must be a JSON object")
    kinds = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise AntiphonError(f"{where}: unknown {what or repr(section)} field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if kinds[name] in (str, "str"):
            if not isinstance(value, str):
                raise AntiphonError(f"{where}: '{section}.{name}' must be a string, got {value!r}")
            values[name] = value
            continue
        want = float if kinds[name] in (float, "float") else int
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (want is int and not isinstance(value, int)) or (want is float and not math.isfinite(value)):
            raise AntiphonError(f"{where}: '{section}.{name}' must be a{'n integer' if want is int else ' finite number'}, got {value!r}")
        values[name] = want(value)
    try:
        return cls(**values)
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: '{section}': {exc}") from None
