"""File helpers: what --force may replace."""

from pathlib import Path

import pytest

from agent.errors import AntiphonError
from agent.files import check_replaceable, json_object_or_none


def owns(folder: Path) -> bool:
    return (json_object_or_none(folder / "own.json") or {}).get("format") == "mine"


def test_force_passes_a_missing_an_empty_or_an_own_folder(tmp_path: Path) -> None:
    check_replaceable(tmp_path / "missing", owns, "thing", "own.json")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", owns, "thing", "own.json")
    own = tmp_path / "own"
    own.mkdir()
    (own / "own.json").write_text('{"format": "mine"}')
    (own / "weights.bin").write_bytes(b"1")
    check_replaceable(own, owns, "thing", "own.json")


@pytest.mark.parametrize("manifest", [None, '{"format": "theirs"}', "{not json", "[1, 2]"])
def test_force_refuses_a_folder_without_the_tools_manifest(tmp_path: Path, manifest: str | None) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine, not the tool's")
    if manifest is not None:
        (folder / "own.json").write_text(manifest)
    with pytest.raises(AntiphonError, match=r"^.*/f holds files but no own.json: --force replaces only a thing folder \(move or delete it yourself\)$"):
        check_replaceable(folder, owns, "thing", "own.json")
    assert (folder / "notes.txt").read_text() == "mine, not the tool's"


def test_force_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(AntiphonError, match="is a file, not a thing folder"):
        check_replaceable(tmp_path / "f", owns, "thing", "own.json")
