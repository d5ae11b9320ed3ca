"""Events sent when they are due, in order, from one timer thread; cleared events are not sent."""

from __future__ import annotations

import threading
import time

from agent.engine.event_timer import EventTimer


def test_events_are_sent_at_their_time_in_order_and_clear_drops_the_rest() -> None:
    got: list[tuple[float, str, tuple]] = []
    done = threading.Event()

    def send(command: str, *args: object) -> None:
        got.append((time.monotonic(), command, args))
        if len(got) == 3:
            done.set()

    timer = EventTimer(send)
    try:
        now = time.monotonic()
        for delay, pitch in ((0.30, 64), (0.10, 60), (0.20, 62)):
            timer.at(now + delay, "event/note", "piano", pitch)
        assert done.wait(5.0)
        assert [args[1] for _, _, args in got] == [60, 62, 64]  # in time order, not in the order given
        assert all(t >= now + d - 0.005 for (t, _, _), d in zip(got, (0.10, 0.20, 0.30)))  # never early
        timer.at(time.monotonic() + 0.2, "event/note", "piano", 67)
        timer.clear()
        time.sleep(0.4)
        assert len(got) == 3  # cleared before it was due: not sent
    finally:
        timer.close()
