"""Recording a performance: each voice's input (left) and answer (right) to a WAV file.

The recorder thread reads what the audio callback really moved, from behind the play head of each
voice's rings (``Voice.process`` writes back the silence it played where nothing was scheduled),
every 0.1 s. The rings hold 8 s, so a slow disk has seconds of slack; if the recorder still falls
further behind than half a ring, the gap is written as silence and counted in ``gaps``.

A crash (even SIGKILL, which no clean-up survives) loses at most about a second: the WAV header's
sizes are rewritten and the file flushed at least every ``HEADER_EVERY_S``, so the file on disk is
always a complete WAV of what was recorded until then.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from agent.engine.voice import Voice
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

POLL_S = 0.1
HEADER_EVERY_S = 1.0
SFC_UPDATE_HEADER_NOW = 0x1060  # libsndfile's sf_command: write the header's sizes for the frames written so far


@dataclass
class _Take:
    voice: Voice
    path: Path
    file: sf.SoundFile
    position: int  # next sample (stream count) to write
    header_due: float = 0.0  # time.monotonic() when the header is next brought up to date


class Recorder:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.gaps = 0
        self._takes: dict[str, _Take] = {}
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._running = True
        self._thread = threading.Thread(target=self._run, name="antiphon-recorder", daemon=True)
        self._thread.start()

    def start(self, voice: Voice) -> Path:
        """Open ``<folder>/<agent>-<date>-<time>.wav`` and record from the play head on."""
        if voice.name in self._takes:
            raise AntiphonError(f"agent '{voice.name}' is already recording to {self._takes[voice.name].path}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{voice.name}-{time.strftime('%Y%m%d-%H%M%S')}.wav"
            n = 1
            while path.exists():
                n += 1
                path = path.with_name(f"{voice.name}-{time.strftime('%Y%m%d-%H%M%S')}-{n}.wav")
            handle = sf.SoundFile(path, "w", samplerate=voice.rate_hz, channels=2, subtype="FLOAT")
        except (OSError, sf.LibsndfileError) as exc:
            raise AntiphonError(f"cannot record to {self.folder}: {exc}") from exc
        self._takes[voice.name] = _Take(voice, path, handle, voice.out_read)
        return path

    def stop(self, voice: Voice) -> Path:
        take = self._takes.get(voice.name)
        if take is None:
            raise AntiphonError(f"agent '{voice.name}' is not recording")
        done = threading.Event()
        self._requests.put((voice.name, done))
        done.wait(timeout=5.0)
        return take.path

    def close(self) -> None:
        for name in list(self._takes):
            self.stop(self._takes[name].voice)
        self._running = False
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while self._running:
            time.sleep(POLL_S)
            for take in list(self._takes.values()):
                self._write(take)
                if time.monotonic() >= take.header_due:
                    _finalise_so_far(take)
            while True:
                try:
                    name, done = self._requests.get_nowait()
                except queue.Empty:
                    break
                take = self._takes.pop(name, None)
                if take is not None:
                    self._write(take)
                    take.file.close()
                done.set()

    def _write(self, take: _Take) -> None:
        v = take.voice
        end = v.out_read
        if end - take.position > v.capacity // 2:
            self.gaps += 1
            take.file.write(np.zeros((end - v.capacity // 2 - take.position, 2), np.float32))
            take.position = end - v.capacity // 2
        if end <= take.position:
            return
        idx = np.arange(take.position, end) % v.capacity
        take.file.write(np.stack([v.in_ring[idx], v.out_ring[idx]], axis=1))
        take.position = end


def _finalise_so_far(take: _Take) -> None:
    """Make the file on disk a complete WAV of what is written so far: header sizes, then a flush."""
    take.header_due = time.monotonic() + HEADER_EVERY_S
    try:
        sf._snd.sf_command(take.file._file, SFC_UPDATE_HEADER_NOW, sf._ffi.NULL, 0)  # soundfile has no public call for it
        take.file.flush()
    except (AttributeError, OSError, sf.LibsndfileError) as exc:  # another soundfile: the recording goes on, finalised at stop
        log.debug("cannot update the header of %s: %s", take.path, exc)
