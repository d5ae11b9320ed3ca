"""Live: a duplex sounddevice stream, preallocated rings, and the worker that answers.

Threads and what they own:
- the audio callback (PortAudio's thread) owns ``in_write``, ``out_read`` and the xrun counters.
  It copies the input block into the input ring and the next output block out of the output ring,
  nothing else: no allocation of buffers, no lock, no logging, no waiting;
- the worker thread owns ``in_read``, ``out_write`` (the scheduling cursor), the agent and the
  statistics. It waits for a block of input, resamples it to 16 kHz (soxr, streaming), pushes it
  through the agent and writes each answer slot into the output ring ``output_lead_ms`` ahead of
  the play head, followed by the natural continuation of that grain. When a decision would land
  behind the play head, the worker skips it: the continuation already in the ring keeps playing
  (no silence) and the skip is counted;
- the main thread starts/stops and prints status.
Counters are plain Python ints written by one thread and read by others (atomic under the GIL).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import soxr
import torch

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.engine.agent import AnswerAgent
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

RING_S = 8.0
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class StreamSettings:
    device: str | int | None = None
    sample_rate_hz: int = 48_000
    block_frames: int = 256
    input_channel: int = 0
    output_channel: int = 0
    channels: int = 1  # channels opened on each side (input_/output_channel pick one of them)


class LiveEngine:
    """Mic in -> answer out, until ``stop``."""

    def __init__(self, agent: AnswerAgent, settings: StreamSettings, keep_trace: bool = False) -> None:
        if agent.output_rate_hz != settings.sample_rate_hz:
            raise AntiphonError(f"the agent renders at {agent.output_rate_hz} Hz but the stream runs at {settings.sample_rate_hz} Hz")
        for name in ("input_channel", "output_channel"):
            if not 0 <= getattr(settings, name) < settings.channels:
                raise AntiphonError(f"{name} must be between 0 and {settings.channels - 1}")
        self.agent, self.settings = agent, settings
        rate = settings.sample_rate_hz
        self.capacity = int(RING_S * rate)
        self.in_ring = np.zeros(self.capacity, dtype=np.float32)
        self.out_ring = np.zeros(self.capacity, dtype=np.float32)
        self.in_write = 0
        self.in_read = 0
        self.out_read = 0
        self.out_write = 0
        self.xruns = 0
        self.underruns = 0
        self.callbacks = 0
        self.last_xrun_callback = -1
        self.compute_ms: deque[float] = deque(maxlen=200)
        self.steps = 0
        self.fallbacks = 0
        self.skipped = 0
        self.last_labels = (-1, -1)
        self._running = False
        self._worker: threading.Thread | None = None
        self._stream = None
        self._resampler = soxr.ResampleStream(rate, PERCEPTION_RATE_HZ, 1, dtype="float32")
        self._lead = int(agent.config.output_lead_ms * 1e-3 * rate)
        self._started_output = False
        # what the worker heard (16 kHz) and did, kept only when asked (tests, debugging)
        self.keep_trace = keep_trace
        self.heard: list[np.ndarray] = []
        self.trace: list[dict] = []

    # -- audio thread -------------------------------------------------------------------------
    def _callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        if status.input_overflow or status.output_underflow or status.input_underflow:
            self.xruns += 1  # priming_output (stream start) is not an xrun
            self.last_xrun_callback = self.callbacks
        cap = self.capacity
        w = self.in_write % cap
        first = min(frames, cap - w)
        self.in_ring[w : w + first] = indata[:first, self.settings.input_channel]
        if first < frames:
            self.in_ring[: frames - first] = indata[first:frames, self.settings.input_channel]
        self.in_write += frames
        outdata.fill(0.0)
        r = self.out_read % cap
        available = self.out_write - self.out_read
        n = frames if available >= frames else max(available, 0)
        first = min(n, cap - r)
        ch = self.settings.output_channel
        outdata[:first, ch] = self.out_ring[r : r + first]
        if first < n:
            outdata[first:n, ch] = self.out_ring[: n - first]
        if n < frames and self._started_output:
            self.underruns += 1
        self.out_read += frames
        self.callbacks += 1

    # -- worker thread ------------------------------------------------------------------------
    def _write_out(self, start: int, audio: np.ndarray) -> None:
        cap = self.capacity
        s = start % cap
        first = min(len(audio), cap - s)
        self.out_ring[s : s + first] = audio[:first]
        if first < len(audio):
            self.out_ring[: len(audio) - first] = audio[first:]

    def _work(self) -> None:
        block = self.settings.block_frames
        margin = block  # a slot must start at least one block after the play head
        cursor: int | None = None
        while self._running:
            available = self.in_write - self.in_read
            if available < block:
                time.sleep(block / self.settings.sample_rate_hz / 4)
                continue
            if available > self.capacity:
                self.skipped += 1  # fell more than a whole ring behind: drop the oldest input
                self.in_read = self.in_write - block
                continue
            r = self.in_read % self.capacity
            idx = (np.arange(r, r + available) % self.capacity)
            x = self.in_ring[idx]
            self.in_read += available
            x16 = self._resampler.resample_chunk(x)
            if self.keep_trace:
                self.heard.append(x16)
            for chunk in self.agent.chunker.push(x16):
                if cursor is None:
                    cursor = self.out_read + self._lead
                if cursor < self.out_read + margin:
                    # too late for this slot: the continuation already written keeps playing
                    self.skipped += 1
                    length = self._commit_continuation(cursor)
                    cursor += length
                    continue
                step = self.agent.step_chunk(chunk)
                self._write_out(cursor, step.audio)
                cursor += len(step.audio)
                tail = self._continuation()
                self._write_out(cursor, tail)
                self.out_write = cursor + len(tail)
                self._started_output = True
                self.steps += 1
                self.fallbacks += int(step.fallback)
                self.compute_ms.append(1e3 * step.compute_s)
                self.last_labels = (step.input_label, step.played_label)
                if self.keep_trace:
                    self.trace.append({**step.trace_row(), "output_sample": cursor - len(step.audio)})

    def _continuation(self) -> np.ndarray:
        """Audio that follows the last grain in its recording (not yet committed)."""
        sel = self.agent.selector
        if sel.last is None:
            return np.zeros(self.agent.hop_output_samples, dtype=np.float32)
        nxt = sel.successor(sel.last)
        return self.agent.level(self.agent.renderer.peek(sel.last if nxt is None else nxt))

    def _commit_continuation(self, cursor: int) -> int:
        """The slot at ``cursor`` plays the continuation already in the ring: make it the played grain."""
        sel = self.agent.selector
        if sel.last is None:
            return self.agent.hop_output_samples
        nxt = sel.successor(sel.last)
        if nxt is not None:
            sel.last = nxt
        played = self.agent.renderer.render(sel.last, contiguous=True)  # updates the crossfade tail
        tail = self._continuation()
        self._write_out(cursor + len(played), tail)
        self.out_write = cursor + len(played) + len(tail)
        return len(played)

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        import sounddevice as sd

        # The callback is Python: it needs the GIL within one block (5.3 ms at 256 frames, 48 kHz).
        # A short switch interval bounds how long the worker can hold it; one torch thread leaves
        # the other core to the audio server.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        torch.set_num_threads(1)
        self.agent.warm_up()
        s = self.settings
        try:
            self._stream = sd.Stream(
                device=s.device, samplerate=s.sample_rate_hz, blocksize=s.block_frames, channels=s.channels,
                dtype="float32", callback=self._callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise AntiphonError(f"cannot open audio device {s.device!r} at {s.sample_rate_hz} Hz: {' '.join(str(exc).split())}") from exc
        self._running = True
        self._worker = threading.Thread(target=self._work, name="antiphon-worker", daemon=True)
        self._worker.start()
        self._stream.start()

    def stop(self) -> None:
        self._running = False
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        if self._worker is not None:
            self._worker.join(timeout=2.0)
            self._worker = None

    def write_trace(self, trace_path, heard_path) -> None:
        """JSON of the steps, and what the worker heard as a 16 kHz float WAV (to rehearse the same input)."""
        import json

        import soundfile as sf

        with open(trace_path, "w", encoding="utf-8") as handle:
            json.dump({"status": self.status(), "chunks": self.trace}, handle, indent=1)
        heard = np.concatenate(self.heard) if self.heard else np.zeros(0, np.float32)
        sf.write(heard_path, heard, PERCEPTION_RATE_HZ, subtype="FLOAT")

    def status(self) -> dict:
        ms = np.asarray(self.compute_ms) if self.compute_ms else np.zeros(1)
        return {
            "running": self._running,
            "xruns": self.xruns,
            "underruns": self.underruns,
            "compute_p50_ms": round(float(np.percentile(ms, 50)), 2),
            "compute_p99_ms": round(float(np.percentile(ms, 99)), 2),
            "callbacks": self.callbacks,
            "last_xrun_callback": self.last_xrun_callback,
            "steps": self.steps,
            "fallbacks": self.fallbacks,
            "skipped": self.skipped,
            "input_label": int(self.last_labels[0]),
            "answer_label": int(self.last_labels[1]),
        }

    def status_line(self) -> str:
        s = self.status()
        return (f"xruns {s['xruns']}  underruns {s['underruns']}  compute p50 {s['compute_p50_ms']:.1f} ms p99 {s['compute_p99_ms']:.1f} ms  "
                f"steps {s['steps']}  fallbacks {s['fallbacks']}  skipped {s['skipped']}  labels {s['input_label']}->{s['answer_label']}")
