"""Real components the tests drive (jackd, Pure Data): skipped where they are missing, except under
CI, where a missing one is a failure: a broken setup must not pass as green.

Tests declare them with ``@pytest.mark.real_program("jackd", "jackd2")`` (program, Debian package);
tests/conftest.py checks the mark before the test's fixtures are set up."""

from __future__ import annotations

import os
import shutil

import pytest

CI_VALUES = ("1", "true", "yes")


def under_ci() -> bool:
    """``CI=true`` (what CI services set, and .ci/run)."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def require_program(program: str, package: str) -> None:
    """Return when ``program`` is on PATH; else skip the test, or fail it under CI."""
    if shutil.which(program) is not None:
        return
    reason = f"{program} is not installed (Debian package {package}, installed by scripts/setup.sh)"
    if under_ci():
        pytest.fail(f"{reason}: under CI a missing real component is a failure", pytrace=False)
    pytest.skip(reason)
