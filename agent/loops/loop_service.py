"""Loop generation for the OSC server (``/antiphon/loops/generate bpm bars count``): requests run
one at a time in a background thread at a lowered CPU priority, so neither the OSC thread nor the
audio (callback and inference worker) ever waits for them.

The diffusion model is loaded on the first request (a server that never generates pays nothing).
Each request's loops go into their own folder under ``out_dir`` (``<UTC time>-<bpm>bpm``), and
``report(folder, count)`` is called when they are written; a failed request calls ``refuse(reason)``
with one line. At most ``MAX_PENDING`` requests wait; more are refused at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Callable

from agent.errors import AntiphonError
from agent.loops.loop_request import LoopRequest

log = logging.getLogger(__name__)

MAX_PENDING = 2
WORKER_NICE = 10  # below the OSC thread and the inference worker
CLOSE_WAIT_S = 10.0  # a sampler step of the largest request is well under this


class LoopService:
    def __init__(self, model_dir: Path, out_dir: Path) -> None:
        self.model_dir, self.out_dir = Path(model_dir), Path(out_dir)
        self._queue: queue.Queue[tuple[LoopRequest, Callable[[Path, int], None], Callable[[str], None]] | None] = queue.Queue(MAX_PENDING)
        self._bundle = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="antiphon-loops", daemon=True)
        self._thread.start()

    def submit(self, request: LoopRequest, report: Callable[[Path, int], None], refuse: Callable[[str], None]) -> None:
        """Queue a request (refused in one line when ``MAX_PENDING`` already wait)."""
        try:
            self._queue.put_nowait((request, report, refuse))
        except queue.Full:
            raise AntiphonError(f"{MAX_PENDING} loop requests are already waiting; send this one when /antiphon/event/loops has answered") from None

    def close(self) -> None:
        """Stop: a request being generated is cancelled at its next sampler step (its folder is never
        written: loops go to ``<folder>.partial`` and are renamed when complete); waiting ones are refused."""
        self._stop.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[2]("the server is stopping; the loop request was not carried out")
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # a submit raced in; the worker sees the stop before taking it
        self._thread.join(timeout=CLOSE_WAIT_S)

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except (OSError, AttributeError) as exc:
            log.debug("loop worker keeps its priority: %s", exc)
        while True:
            item = self._queue.get()
            if item is not None and self._stop.is_set():
                item[2]("the server is stopping; the loop request was not carried out")
            if item is None or self._stop.is_set():
                return
            request, report, refuse = item
            try:
                folder, count = self.generate(request)
            except _Cancelled:
                return
            except AntiphonError as exc:
                refuse(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - the server never dies from a request; the bug is logged
                log.exception("loop generation failed")
                refuse(f"internal error ({type(exc).__name__}); the request's folder may be incomplete")
                continue
            report(folder, count)

    def generate(self, request: LoopRequest) -> tuple[Path, int]:
        from agent.loops.diffusion_checkpoint import load_diffusion
        from agent.loops.generate import generate_loops, write_loops

        if self._bundle is None:
            self._bundle = load_diffusion(self.model_dir)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        folder = self.out_dir / f"{stamp}-{request.bpm:g}bpm"
        log.info("generating %d loop(s) of %d bar(s) at %g bpm into %s", request.count, request.bars, request.bpm, folder)

        def check_stop(_done: int, _total: int) -> None:
            if self._stop.is_set():
                raise _Cancelled

        loops = generate_loops(self._bundle, request, progress=check_stop)
        partial = folder.with_name(folder.name + ".partial")
        write_loops(partial, loops, request, self._bundle, made_by="OSC /antiphon/loops/generate")
        os.replace(partial, folder)
        return folder, len(loops)


class _Cancelled(Exception):
    """The server stopped while a request was being generated."""
