"""The one exception type users see: a one-line, human-readable reason."""

from __future__ import annotations

from typing import Iterable


class AntiphonError(Exception):
    """A refused input or failed operation, with a one-line message fit for a musician.

    The CLI prints ``error: <message>`` and exits with status 2; the OSC server answers it on
    ``/antiphon/error``. Messages name the file or value at fault and what is wrong with it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def require(checks: Iterable[tuple[bool, str]], prefix: str = "") -> None:
    """Raise ``AntiphonError(prefix + message)`` for the first check that fails (config validation)."""
    for ok, message in checks:
        if not ok:
            raise AntiphonError(prefix + message)
