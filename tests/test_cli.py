"""The `antiphon` console script, run as a user runs it."""

import subprocess
import sys
from pathlib import Path

from agent.cli import build_parser


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=300)


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public list
    for name in commands:
        result = run(name, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: antiphon" in result.stdout


def test_missing_pairs_folder_is_one_line_error(tmp_path: Path) -> None:
    result = run("build-corpus", "--pairs", str(tmp_path / "none"), "--source", "a", "--target", "b", "--out", str(tmp_path / "c"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: pairs folder {tmp_path / 'none'} does not exist"]
    assert not (tmp_path / "c").exists()


def test_bad_hop_is_refused(tone_pairs: Path, tmp_path: Path) -> None:
    result = run("build-corpus", "--pairs", str(tone_pairs), "--source", "melody", "--target", "bass", "--out", str(tmp_path / "c"), "--hop-s", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: hop_s must be between 0.1 and 0.5 s, got 2.0"


def test_build_then_info(tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    result = run("-q", "build-corpus", "--pairs", str(tone_pairs), "--source", "melody", "--target", "bass", "--out", str(out), "--codebook-size", "16")
    assert result.returncode == 0, result.stderr
    info = run("corpus-info", str(out), "--plot", str(tmp_path / "info.png"))
    assert info.returncode == 0, info.stderr
    assert "melody (performer) -> bass (answer)" in info.stdout
    assert (tmp_path / "info.png").stat().st_size > 10_000
    bad = run("corpus-info", str(out), "--piece", "9")
    assert bad.returncode == 2 and "--piece must be between 0 and 2" in bad.stderr
