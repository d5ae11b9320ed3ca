"""Thread priorities: the audio callback first, then decisions, then loading and writing.

The audio callback runs in PortAudio's thread (C, realtime under a realtime JACK server). Below it
the OSC thread (raised where allowed, ``agent/osc/server.py``), then each voice's worker, slightly
below normal, and the loader and recorder well below: building a new agent or writing a recording
never takes a core from a decision, and a decision never from the callback when the machine is
busy. Linux gives each thread its own nice value; raising it (lowering the priority) needs no
privilege.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

WORKER_NICE = 5
LOADER_NICE = 10
RECORDER_NICE = 10


def lower_this_thread(nice: int) -> bool:
    """Set the calling thread's nice value to ``nice`` if that lowers its priority; whether it did."""
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) >= nice:
            return False
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except (OSError, AttributeError) as exc:  # not Linux, or not allowed
        log.debug("thread %s keeps its priority (%s)", threading.current_thread().name, exc)
        return False


def thread_nice(native_id: int) -> int:
    """The nice value of a thread of this process (Linux)."""
    return os.getpriority(os.PRIO_PROCESS, native_id)
