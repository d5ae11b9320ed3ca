"""An input file played as the performer, streamed: decoded a little at a time, never read whole.

The audio callback (C) takes the file from a ring of ``RING_S`` seconds at the stream rate
(``antiphon_source`` in agent/engine/native/callback.h); the voice's worker keeps the ring
``AHEAD_S`` seconds ahead of the callback by calling ``top_up`` at each wake-up, reading the file
in blocks of ``READ_S`` seconds, mixing it to mono and resampling it as a stream (soxr). At its
end the file starts again (played in a loop). Memory is the ring and one block, whatever the
file's length. The loader opens the file and fills the ring before the voice switches to it, so a
file that cannot be read is refused before anything changes.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf
import soxr

from agent.audio_io import open_sound_file, to_mono
from agent.engine.native import library as native
from agent.errors import AntiphonError

RING_S = 4.0
AHEAD_S = 2.0
READ_S = 0.25


class InputStream:
    """One input file looping into a ring the audio callback reads (thread: the voice's worker,
    and the loader before it is published)."""

    def __init__(self, path: str, rate_hz: int) -> None:
        self.path = path
        self.file: sf.SoundFile = open_sound_file(path)
        if self.file.frames == 0:
            self.file.close()
            raise AntiphonError(f"{path}: the file holds no samples")
        self.rate_hz = int(rate_hz)
        self._resampler = None if self.file.samplerate == self.rate_hz else soxr.ResampleStream(self.file.samplerate, self.rate_hz, 1, dtype="float32")
        self.ring = np.zeros(int(RING_S * self.rate_hz), dtype=np.float32)
        self.source = native.source(self.ring)  # the C descriptor; ``written`` is published through it
        self.written = 0
        self._pending = np.zeros(0, dtype=np.float32)  # decoded, not yet in the ring
        self._read_frames = max(int(READ_S * self.file.samplerate), 1)
        self.top_up(0)

    def top_up(self, played: int) -> None:
        """Decode until ``AHEAD_S`` seconds lie ahead of ``played`` (samples the callback has taken);
        never writes over what the callback has not taken yet."""
        ahead = int(AHEAD_S * self.rate_hz)
        played = min(played, self.written)  # never trust a position past what was written
        while self.written - played < ahead:
            if len(self._pending) == 0:
                self._pending = self._next()
                continue
            n = min(len(self._pending), len(self.ring) - (self.written - played))
            if n <= 0:
                return
            start = self.written % len(self.ring)
            first = min(n, len(self.ring) - start)
            self.ring[start : start + first] = self._pending[:first]
            self.ring[: n - first] = self._pending[first:n]
            self._pending = self._pending[n:]
            self.written += n
            native.store_release(self.source, "written", self.written)  # after the ring writes: they are seen first

    def _next(self) -> np.ndarray:
        """The next block of the file at the stream rate, mono, from its start again at its end."""
        data = self.file.read(self._read_frames, dtype="float32", always_2d=True)
        if len(data) == 0:
            self.file.seek(0)
            data = self.file.read(self._read_frames, dtype="float32", always_2d=True)
        mono = to_mono(data)
        mono = np.nan_to_num(np.ascontiguousarray(mono, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return mono if self._resampler is None else self._resampler.resample_chunk(mono)

    def close(self) -> None:
        self.file.close()
