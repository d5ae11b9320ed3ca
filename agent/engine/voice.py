"""One answering agent inside the live engine: its rings, its worker thread and its command queue.

Threads and what they own (the engine's audio callback is C: ``agent/engine/native/callback.c``):
- the audio callback owns ``in_write``, ``out_read`` and the file-input position, in the voice's
  shared C state (``self.state``): per block it copies the input channel (or the looping input
  file) into ``in_ring`` and ``out_ring`` into the output channel, then writes back into
  ``out_ring`` what it really played (zeros where nothing was scheduled), so the ring behind the
  play head is the exact output (the recorder reads it);
- the worker thread owns ``in_read``, ``out_write`` (the end of what is scheduled), the agent's
  driver and the statistics. Between chunks it applies the queued commands (settings, start, stop,
  a new agent, a new input source); per block of input it resamples to 16 kHz (soxr, streaming)
  and pushes it through the ``AgentDriver`` (agent/engine/driver.py, the same as rehearsal's),
  whose output clock is ``out_ring``: each answer slot lands ``output_lead_ms`` ahead of the play
  head, followed by the natural continuation of that grain, which plays on under a late decision;
  a change of settings or agent hands over without a gap;
- control threads (OSC, main) only put commands on ``commands`` and read counters.
Python-side counters are plain ints written by one thread and read by others (atomic under the GIL).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import soxr

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.engine.agent import AnswerAgent
from agent.engine.config import EngineConfig
from agent.engine.driver import AgentDriver, Slot
from agent.engine.event_timer import EventTimer
from agent.engine.input_stream import InputStream
from agent.engine.native import library as native
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

RING_S = 8.0

Notify = Callable[..., None]  # notify(address_command, *args): events for the OSC clients


def _silent(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class VoiceSpec:
    """Where an agent listens and answers in the stream."""

    name: str = "answer"
    input_channel: int = 0
    output_channel: int = 0


class RingClock:
    """The driver's output clock on a voice's output ring: the play head is the C callback's read
    position; a write must land at least one block after it."""

    def __init__(self, voice: "Voice") -> None:
        self.voice = voice
        self.margin_samples = voice.block_frames

    def play_head(self) -> int:
        return self.voice.out_read

    def write(self, start: int, audio: np.ndarray) -> None:
        self.voice._write_out(start, audio)

    def schedule_end(self, end: int) -> None:
        self.voice.out_write = end  # after the ring writes: the callback may play up to here
        self.voice.scheduled = True


class Voice:
    """An AnswerAgent bound to one input and one output channel of the engine's stream."""

    def __init__(self, spec: VoiceSpec, agent: AnswerAgent, rate_hz: int, block_frames: int, keep_trace: bool = False) -> None:
        self.spec = spec
        self.name = spec.name
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.capacity = int(RING_S * rate_hz)
        self.in_ring = np.zeros(self.capacity, dtype=np.float32)
        self.out_ring = np.zeros(self.capacity, dtype=np.float32)
        # the state shared with the C callback; it points into the rings above (the library is
        # loaded, and built if need be, here in the constructing thread, not first in a worker)
        native.load()
        self.state = native.voice_state(self.in_ring, self.out_ring, spec.input_channel, spec.output_channel)
        # input files published to the callback, kept open until it can no longer read them:
        # [blocks counter when replaced or None while current, InputStream]
        self._sources: list[list] = []
        self._stream: InputStream | None = None
        self.in_read = 0
        self.answering = False  # the worker's state; ``wanted`` is what control threads last asked for
        self.wanted = False
        self.compute_ms: deque[float] = deque(maxlen=200)
        self.driver = AgentDriver(agent, RingClock(self))
        self._dropped = 0  # input blocks dropped after falling a whole ring behind
        self.steps = 0
        self.fallbacks = 0
        self.last_labels = (-1, -1)
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = agent.config  # settings after every queued command (control threads)
        self.notify: Notify = _silent
        self._resampler = self._new_resampler()
        self._running = False
        self._thread: threading.Thread | None = None
        self._timer: EventTimer | None = None  # sends an arranger's notes when they sound (made on first use)
        # what the worker heard (16 kHz) and did, kept only when asked (tests, debugging)
        self.keep_trace = keep_trace
        self.heard: list[np.ndarray] = []
        self.trace: list[dict] = []

    def _new_resampler(self) -> soxr.ResampleStream:
        """Stream rate -> 16 kHz, streaming (a fresh one per performance: no history from the last)."""
        return soxr.ResampleStream(self.rate_hz, PERCEPTION_RATE_HZ, 1, dtype="float32")

    @property
    def agent(self) -> AnswerAgent:
        return self.driver.agent

    @property
    def skipped(self) -> int:
        """Chunks whose decision came too late (the continuation played instead), plus inputs dropped."""
        return self.driver.skipped + self._dropped

    # -- the shared state (written by the C callback or by the worker) --------------------------
    @property
    def in_write(self) -> int:
        return native.load_acquire(self.state, "in_write")

    @property
    def out_read(self) -> int:
        return native.load_acquire(self.state, "out_read")

    @property
    def out_write(self) -> int:
        return int(self.state.out_write)  # the worker's own field

    @out_write.setter
    def out_write(self, value: int) -> None:
        native.store_release(self.state, "out_write", value)  # after the ring writes: they are seen first

    @property
    def underruns(self) -> int:
        return int(self.state.underruns)

    @property
    def scheduled(self) -> bool:
        """The worker has scheduled audio since the last start (the callback counts underruns then)."""
        return bool(self.state.scheduled)

    @scheduled.setter
    def scheduled(self, value: bool) -> None:
        native.store_release(self.state, "scheduled", int(value))

    def _set_source(self, stream: InputStream | None) -> None:
        """Publish a new input source to the callback (None: the input channel again)."""
        blocks = int(self.state.blocks)
        for entry in self._sources:
            if entry[0] is None:
                entry[0] = blocks
        self.state.source = native.ffi.NULL if stream is None else stream.source
        if stream is not None:
            self._sources.append([None, stream])
        self._stream = stream
        # a replaced source is safe to close once two more blocks began (the callback loads it per block)
        now = int(self.state.blocks)
        for entry in self._sources:
            if entry[0] is not None and now >= entry[0] + 2:
                entry[1].close()
        self._sources = [e for e in self._sources if e[0] is None or now < e[0] + 2]

    def _feed_input(self) -> None:
        """Keep the streamed input file ahead of the callback (once the callback plays it)."""
        stream = self._stream
        if stream is not None and native.playing(self.state) == stream.source:
            stream.top_up(native.load_acquire(self.state, "file_pos"))

    @property
    def input_starved(self) -> int:
        """Callback blocks that found less of the input file than they needed (the worker fell behind)."""
        return int(self.state.starved)

    # -- worker thread --------------------------------------------------------------------------
    def start_worker(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._work, name=f"antiphon-worker-{self.name}", daemon=True)
        self._thread.start()

    def stop_worker(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def _work(self) -> None:
        while self._running:
            try:
                self._work_once()
            except Exception as exc:  # noqa: BLE001 - the worker outlives a failing agent: logged with its traceback, the clients told
                log.exception("agent %s stopped answering after an internal error", self.name)
                self._stop_after(exc)
                time.sleep(0.1)  # an error that repeats does not spin

    def _stop_after(self, exc: Exception) -> None:
        """An agent's step raised: it stops answering (faded out) and says why; a /start starts it again."""
        self.wanted = False
        self._stop_answering()
        self.notify("error", f"/antiphon/{self.name}", " ".join(f"agent '{self.name}' stopped: internal error ({type(exc).__name__}: {exc})".split())[:300])

    def _stop_answering(self) -> None:
        """Stop answering: fade out what is scheduled, forget the events still to come, say so."""
        self.answering = False
        self.scheduled = False
        self._fade_out()
        if self._timer is not None:
            self._timer.clear()
        self.notify("event/state", self.name, "stopped")

    def _work_once(self) -> None:
        """One turn of the worker: commands, the input file, and the input that arrived (see the module docstring)."""
        block = self.block_frames
        self._apply_commands()
        self._feed_input()
        available = self.in_write - self.in_read
        if available < block:
            time.sleep(block / self.rate_hz)  # each wake-up takes the GIL: one per block is enough
            return
        if not self.answering:
            self.in_read = self.in_write  # not listening: drop the input
            return
        if available > self.capacity:
            self._dropped += 1  # fell more than a whole ring behind: drop the oldest input
            self.in_read = self.in_write - block
            return
        r = self.in_read % self.capacity
        x = self.in_ring[np.arange(r, r + available) % self.capacity]
        self.in_read += available
        x16 = self._resampler.resample_chunk(x)
        if self.keep_trace:
            self.heard.append(x16)
        self._report(self.driver.push(x16))

    def _report(self, slots: list[Slot]) -> None:
        """Count and announce what the driver did with each chunk."""
        for slot in slots:
            step = slot.step
            if step is None:
                self.notify("event/skipped", self.name, self.skipped)
                continue
            self.steps += 1
            self.fallbacks += int(step.fallback)
            self.compute_ms.append(1e3 * step.compute_s)
            self.last_labels = (step.input_label, step.played_label)
            if self.keep_trace:
                self.trace.append({**step.trace_row(), "output_sample": slot.start})
            if step.grain >= 0:
                self.notify("event/grain", self.name, step.index, step.input_label, step.played_label, step.grain,
                            int(step.contiguous), int(step.fallback), round(1e3 * step.compute_s, 3))
            if step.events:
                self._announce(slot.start, step.events)

    def _announce(self, slot_start: int, events: tuple) -> None:
        """A step's own events: at once, or (notes) when their sample of the output is played."""
        now, head = time.monotonic(), self.out_read
        for offset, command, args in events:
            if offset is None:
                self.notify(command, self.name, *args)
                continue
            if self._timer is None:
                self._timer = EventTimer(lambda command, *a: self.notify(command, *a), name=f"antiphon-events-{self.name}")
            self._timer.at(now + (slot_start + offset - head) / self.rate_hz, command, self.name, *args)

    def _write_out(self, start: int, audio: np.ndarray) -> None:
        cap = self.capacity
        s = start % cap
        first = min(len(audio), cap - s)
        self.out_ring[s : s + first] = audio[:first]
        if first < len(audio):
            self.out_ring[: len(audio) - first] = audio[first:]

    def _fade_out(self) -> None:
        """Stop answering: what is scheduled fades out over one crossfade after the next block."""
        start = self.out_read + self.block_frames
        n = min(max(self.agent.crossfade_samples, 1), max(self.out_write - start, 0))
        if n > 0:
            idx = np.arange(start, start + n) % self.capacity
            self.out_ring[idx] *= np.cos(0.5 * np.pi * (np.arange(n) + 0.5) / n).astype(np.float32)
        self.out_write = min(self.out_write, start + n)
        self.driver.stop(self.out_write)

    def _apply_commands(self) -> None:
        while True:
            try:
                kind, value = self.commands.get_nowait()
            except queue.Empty:
                return
            if kind == "config":
                try:
                    self.agent.check(value)  # checked when queued, but an agent swapped in since may not play it
                except AntiphonError as exc:
                    log.warning("agent %s: %s; its own hop is kept", self.name, exc)
                    value = replace(value, hop_s=0.0)
                    self.pending = replace(self.pending, hop_s=0.0)
                changed = {k: v for k, v in value.to_dict().items() if v != getattr(self.agent.config, k)}
                slots = self.driver.apply(value)
                for name, v in changed.items():
                    self.notify("event/set", self.name, name, float(v))
                self._report(slots)
            elif kind == "start":
                self.driver.start()
                self._resampler = self._new_resampler()
                self.in_read = self.in_write
                self.answering = True
                self.notify("event/state", self.name, "started")
            elif kind == "stop":
                self._stop_answering()
            elif kind == "agent":
                new, what, path = value
                config = self.agent.config
                try:
                    new.check(config)
                except AntiphonError:  # a hop the new model cannot play (onset chunking): its own hop
                    config = replace(config, hop_s=0.0)
                    self.pending = replace(self.pending, hop_s=0.0)
                new.apply(config)
                slots = self.driver.swap(new)  # the old grain's recording plays on under the new one's first
                self.notify("event/loaded", self.name, what, path)
                self._report(slots)
            elif kind in ("tempo", "follow"):
                getattr(self.agent, f"set_{kind}")(value)
                self.notify("event/set", self.name, kind, float(value))
            elif kind == "input":
                source, stream = value
                self._set_source(stream)  # the callback reads the new source from its next block
                self.notify("event/loaded", self.name, "input", source)

    # -- control threads -----------------------------------------------------------------------
    def request(self, kind: str, value: object = None) -> None:
        """Queue a command for the worker (applied between chunks)."""
        if kind == "start":
            if self.wanted:
                raise AntiphonError(f"agent '{self.name}' is already started")
            self.wanted = True
        elif kind == "stop":
            if not self.wanted:
                raise AntiphonError(f"agent '{self.name}' is not started")
            self.wanted = False
        elif kind == "config":
            self.agent.check(value)
            self.pending = value
        elif kind in ("tempo", "follow") and self.agent.kind != "arranger":
            raise AntiphonError(f"agent '{self.name}' answers with grains; only an arranger agent has a {kind}")
        self.commands.put((kind, value))

    def settings(self, **changes: object) -> EngineConfig:
        """The pending settings with ``changes``, validated (one-line AntiphonError)."""
        try:
            return replace(self.pending, **changes)
        except TypeError as exc:
            raise AntiphonError(str(exc)) from exc

    def status(self) -> dict:
        ms = np.asarray(self.compute_ms) if self.compute_ms else np.zeros(1)
        return {
            "agent": self.name,
            "running": self.answering,
            "underruns": self.underruns,
            "compute_p50_ms": round(float(np.percentile(ms, 50)), 2),
            "compute_p99_ms": round(float(np.percentile(ms, 99)), 2),
            "steps": self.steps,
            "fallbacks": self.fallbacks,
            "skipped": self.skipped,
            "resyncs": self.driver.resyncs,
            "input_starved": self.input_starved,
            "input_label": int(self.last_labels[0]),
            "answer_label": int(self.last_labels[1]),
        }
