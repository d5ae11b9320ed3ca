"""Events sent when they are due: an arranger's notes are announced over OSC as they start to sound.

The worker knows a note's place on the output clock when it decides it, up to a bar ahead; the
voice turns that into a moment on the monotonic clock and hands it here. One thread per timer sends
each event at its moment (a client playing the notes on a synth hears them in time with the
server's own rendering). Never used by the audio callback.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

MAX_PENDING = 4096  # events waiting at most (a few bars of dense notes); more are dropped, counted


class EventTimer:
    """``at(deadline, command, *args)`` calls ``send(command, *args)`` at ``deadline`` (time.monotonic())."""

    def __init__(self, send: Callable[..., None], name: str = "antiphon-events") -> None:
        self.send = send
        self.dropped = 0
        self._heap: list[tuple[float, int, str, tuple]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def at(self, deadline: float, command: str, *args: object) -> None:
        with self._wake:
            if len(self._heap) >= MAX_PENDING:
                self.dropped += 1
                return
            heapq.heappush(self._heap, (deadline, next(self._order), command, args))
            self._wake.notify()

    def clear(self) -> None:
        """Forget what is still to come (the agent stopped)."""
        with self._wake:
            self._heap.clear()

    def close(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(None if not self._heap else max(self._heap[0][0] - time.monotonic(), 0.0))
                if not self._running:
                    return
                _, _, command, args = heapq.heappop(self._heap)
            try:
                self.send(command, *args)
            except (OSError, ValueError) as exc:  # a client that went away must not stop the timer
                log.debug("cannot send %s: %s", command, exc)
            except Exception:  # noqa: BLE001 - the timer outlives any event: a bug is logged with its traceback
                log.exception("cannot send %s", command)
