"""What every test session sets up (tests/conftest.py, tests/real_programs.py): its own cache, and
real components that are required under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent import paths
from tests.real_programs import require_program

TESTS = Path(__file__).resolve().parent


def test_the_cache_is_a_fresh_folder_of_this_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = paths.cache_dir().resolve()
    assert cache.is_relative_to(tmp_path_factory.getbasetemp().resolve()), cache  # new for every session
    assert not cache.is_relative_to(TESTS) and not cache.is_relative_to(Path.home() / ".cache"), cache
    # the commands the tests run use it too
    child = subprocess.run([sys.executable, "-c", "from agent import paths; print(paths.cache_dir())"], capture_output=True, text=True, timeout=60)
    assert Path(child.stdout.strip()).resolve() == cache, child.stderr


def test_a_missing_program_is_skipped_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    require_program("sh", "dash")  # present: nothing happens
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-program-17 is not installed"):
        require_program("no-such-program-17", "nothing")
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="under CI a missing real component is a failure"):
            require_program("no-such-program-17", "nothing")


def test_under_ci_a_live_test_without_its_program_fails(tmp_path: Path) -> None:
    """The Pd round trip run as CI runs it, on a PATH without pd: a failure, not a skip."""
    env = {**os.environ, "CI": "true", "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"),
                           str(TESTS / "osc" / "test_pd_roundtrip.py")], capture_output=True, text=True, timeout=300, env=env, cwd=TESTS.parent)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "pd is not installed (Debian package puredata-core" in done.stdout and "1 error" in done.stdout, done.stdout[-3000:]
