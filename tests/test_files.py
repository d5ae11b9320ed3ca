"""File helpers: what --force may replace."""

import os
import shutil
import subprocess
import sys
import tempfile
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


def test_an_output_place_passes_a_folder_or_what_can_be_made(tmp_path: Path) -> None:
    from agent.files import check_output_place

    check_output_place(tmp_path)  # an existing folder: written into
    check_output_place(tmp_path / "new" / "deeper")  # made with its parents
    (tmp_path / "plot.png").write_bytes(b"png")
    check_output_place(tmp_path / "plot.png", "--plot", folder=False)  # a file output may replace a file


@pytest.mark.parametrize(
    ("make", "out", "reason"),
    [
        (lambda t: (t / "f").write_text("x"), "f", "--out {out} exists and is not a folder"),
        (lambda t: (t / "f").write_text("x"), "f/sub/deeper", "--out {out}: {t}/f is not a folder"),
        (lambda t: (t / "d").symlink_to(t / "nowhere"), "d", "--out {out} exists and is not a folder"),
    ],
    ids=["existing-file", "file-as-parent", "dangling-link"],
)
def test_an_output_place_that_cannot_be_written_is_refused_in_one_line(tmp_path: Path, make, out: str, reason: str) -> None:  # noqa: ANN001
    from agent.files import check_output_place

    make(tmp_path)
    with pytest.raises(AntiphonError) as info:
        check_output_place(tmp_path / out)
    assert str(info.value) == reason.format(out=tmp_path / out, t=tmp_path)


def test_a_folder_given_as_an_output_file_is_refused(tmp_path: Path) -> None:
    from agent.files import check_output_place

    with pytest.raises(AntiphonError, match=r"^--plot .* is a folder, not a file$"):
        check_output_place(tmp_path, "--plot", folder=False)


UNWRITABLE_CHECK = """
import sys
from pathlib import Path
from agent.errors import AntiphonError
from agent.files import check_output_place
for place in (Path(sys.argv[1]) / "out", Path(sys.argv[1])):
    try:
        check_output_place(place)
    except AntiphonError as exc:
        assert "is not a writable folder" in str(exc), exc
    else:
        raise SystemExit(f"{place} was accepted")
"""


def test_an_unwritable_parent_is_refused() -> None:
    """Run as a user who may not write there (root writes anywhere: it drops to nobody with setpriv)."""
    root = Path(tempfile.mkdtemp(prefix="antiphon-locked-"))
    try:
        locked = root / "locked"
        locked.mkdir()
        root.chmod(0o755)
        locked.chmod(0o555)
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        if drop and shutil.which("setpriv") is None:
            pytest.fail("running as root needs setpriv (util-linux) to test as another user")
        done = subprocess.run([*drop, sys.executable, "-c", UNWRITABLE_CHECK, str(locked)], capture_output=True, text=True, timeout=60,
                              cwd=str(Path(__file__).resolve().parent.parent), env={**os.environ, "HOME": str(root)})
        assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-500:]
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)


def test_a_huge_json_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.files
    from agent.files import read_json_object

    path = tmp_path / "config.json"
    path.write_text('{"pad": "' + "x" * 2000 + '"}')
    assert read_json_object(path, "model config")["pad"] == "x" * 2000
    monkeypatch.setattr(agent.files, "MAX_JSON_BYTES", 1000)
    with pytest.raises(AntiphonError, match=r"config.json: 2,011 bytes, more than any model config \(1,000 at most\)$"):
        read_json_object(path, "model config")
