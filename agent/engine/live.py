"""Live: one duplex sounddevice stream shared by one or more answering agents (voices).

Threads and what they own:
- the audio callback (PortAudio's thread) is C (``agent/engine/native/callback.c``), so it never
  waits for Python's interpreter lock. It owns the xrun counters in the engine's shared C state and
  each voice's ``in_write``/``out_read``: it zeroes the output block, copies every voice's input
  channel (or input file) into its input ring and mixes its output ring into its output channel;
  nothing else: no allocation, no lock, no logging, no waiting;
- each voice's worker thread answers (see ``agent/engine/voice.py``);
- the loader thread builds new agents (model, corpus, input file) off the workers' path
  (``agent/engine/loader.py``) and the recorder thread writes recordings (``agent/engine/recorder.py``);
- control threads (main, OSC) start/stop the stream and queue commands to the voices.

Priorities: the callback runs in PortAudio's thread, which is realtime (SCHED_FIFO) under a
realtime JACK server or ALSA where the system allows it, so every Python thread (worker, loader,
recorder, OSC) already runs below it. The Python threads are not lowered below normal: they share
the interpreter lock, and a thread the OS preempts while holding it stalls the others (measured:
workers at nice 5 on a loaded machine slowed the OSC flood test's pongs by a third). The OSC thread
is raised where allowed (agent/osc/server.py). bench/xruns.py measures xruns quiet and busy.
"""

from __future__ import annotations

import gc
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.engine.agent import AnswerAgent
from agent.engine.native.library import MAX_VOICES, callback_pointer, engine_state
from agent.engine.voice import Voice, VoiceSpec
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0002


@dataclass(frozen=True)
class StreamSettings:
    device: str | int | None = None
    sample_rate_hz: int = 48_000
    block_frames: int = 256
    channels: int = 1  # channels opened on each side (each agent's input_/output_channel picks one)


def freeze_heap() -> None:
    """Move every object alive now (torch, models, corpus) out of the cyclic collector's reach.

    A full collection over a loaded process (about 190,000 objects) holds the GIL for about 100 ms;
    the collector can start in any thread that allocates, and the worker (a skipped decision) and
    the OSC thread (a late answer) would wait that long. The C audio callback does not. After the
    freeze a full collection only walks what was made since (about 0.01 ms measured). While audio
    runs, load with the collector paused and call ``gc.freeze()`` alone (``agent/engine/loader.py``):
    a collect would stall it.
    """
    gc.collect()
    gc.freeze()


class LiveEngine:
    """Mic in -> answers out: one duplex stream, one or more voices (agents), until ``stop``."""

    def __init__(self, voices: list[Voice], settings: StreamSettings) -> None:
        names = [v.name for v in voices]
        if not voices:
            raise AntiphonError("the engine needs at least one agent")
        if len(voices) > MAX_VOICES:
            raise AntiphonError(f"at most {MAX_VOICES} agents share a stream, got {len(voices)}")
        if len(set(names)) != len(names):
            raise AntiphonError(f"agent names must differ, got {', '.join(names)}")
        for v in voices:
            if v.agent.output_rate_hz != settings.sample_rate_hz:
                raise AntiphonError(f"the agent renders at {v.agent.output_rate_hz} Hz but the stream runs at {settings.sample_rate_hz} Hz")
            if v.rate_hz != settings.sample_rate_hz or v.block_frames != settings.block_frames:
                raise AntiphonError(f"agent '{v.name}' was made for another stream rate or block size")
            for name in ("input_channel", "output_channel"):
                if not 0 <= getattr(v.spec, name) < settings.channels:
                    raise AntiphonError(f"{name} of agent '{v.name}' must be between 0 and {settings.channels - 1}")
        self.voices = tuple(voices)
        self.settings = settings
        # the state the C callback reads and writes, pointing at each voice's state
        self.state = engine_state(settings.channels, [v.state for v in voices])
        self._stream = None
        self.running = False

    @classmethod
    def single(cls, agent: AnswerAgent, settings: StreamSettings, spec: VoiceSpec = VoiceSpec(), keep_trace: bool = False) -> "LiveEngine":
        return cls([Voice(spec, agent, settings.sample_rate_hz, settings.block_frames, keep_trace)], settings)

    def voice(self, name: str) -> Voice:
        for v in self.voices:
            if v.name == name:
                return v
        raise AntiphonError(f"no agent named '{name}'")

    # -- counters written by the callback ---------------------------------------------------------
    @property
    def xruns(self) -> int:
        """Blocks PortAudio flagged with an input overflow/underflow or an output underflow."""
        return int(self.state.xruns)

    @property
    def callbacks(self) -> int:
        return int(self.state.callbacks)

    # -- control ------------------------------------------------------------------------------
    def start(self, answering: bool = True) -> None:
        """Open the stream and start the workers; ``answering`` starts every agent at once."""
        import sounddevice as sd

        # The callback is C and never waits for the GIL; the OSC thread does: a short switch
        # interval bounds how long the worker (torch, faiss) keeps it from answering a message.
        # One torch thread leaves the other core to the audio server.
        callback = callback_pointer()  # compiled on first use: fail before anything starts
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)  # idle OpenMP workers spin for a while after each search: they took CPU from the GIL holder
        for v in self.voices:
            v.agent.warm_up()
        freeze_heap()
        s = self.settings
        try:
            # sounddevice's stream base takes a C function pointer as the callback (as rtmixer does)
            self._stream = sd._StreamBase(
                kind="duplex", device=s.device, samplerate=s.sample_rate_hz, blocksize=s.block_frames, channels=s.channels,
                dtype="float32", callback=callback, userdata=self.state, wrap_callback=None,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise AntiphonError(f"cannot open audio device {s.device!r} at {s.sample_rate_hz} Hz: {' '.join(str(exc).split())}") from exc
        for v in self.voices:
            if answering:
                v.request("start")
            v.start_worker()
        self.running = True
        self._stream.start()

    def stop(self) -> None:
        self.running = False
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        for v in self.voices:
            v.stop_worker()
        gc.unfreeze()

    def write_trace(self, out_dir: Path) -> list[Path]:
        """Per agent: JSON of the steps, and what it heard as a 16 kHz float WAV (to rehearse the same input)."""
        import json

        import soundfile as sf

        written = []
        for v in self.voices:
            suffix = "" if len(self.voices) == 1 else f"-{v.name}"
            trace = out_dir / f"live{suffix}-trace.json"
            with open(trace, "w", encoding="utf-8") as handle:
                json.dump({"status": {**self.status(), **v.status()}, "chunks": v.trace}, handle, indent=1)
            heard = np.concatenate(v.heard) if v.heard else np.zeros(0, np.float32)
            sf.write(out_dir / f"heard{suffix}.wav", heard, PERCEPTION_RATE_HZ, subtype="FLOAT")
            written.append(trace)
        return written

    def status(self) -> dict:
        return {"running": self.running, "xruns": self.xruns, "callbacks": self.callbacks, "last_xrun_callback": int(self.state.last_xrun_callback)}

    def status_line(self) -> str:
        parts = [f"xruns {self.xruns} "]
        for v in self.voices:
            s = v.status()
            name = f"[{v.name}] " if len(self.voices) > 1 else ""
            parts.append(f"{name}underruns {s['underruns']}  compute p50 {s['compute_p50_ms']:.1f} ms p99 {s['compute_p99_ms']:.1f} ms  "
                         f"steps {s['steps']}  fallbacks {s['fallbacks']}  skipped {s['skipped']}  resyncs {s['resyncs']}  "
                         f"labels {s['input_label']}->{s['answer_label']}")
        return " ".join(parts)
