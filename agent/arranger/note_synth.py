"""The live arranger's sound: its notes played on a General MIDI soundfont inside the server (FluidSynth).

``NoteSynth`` renders a time line of notes bar by bar, in order: ``render_until(end, notes)`` plays
the notes given (onset and end in samples of the time line) and every note-off due before ``end``,
and returns the audio from where the last call stopped to ``end``, tails of earlier notes included.
The synthesiser (libfluidsynth through pyfluidsynth) runs without an audio driver: it only computes
samples when asked, in the thread that drives the arranger (never in the audio callback).
"""

from __future__ import annotations

import heapq
import logging
from pathlib import Path

import numpy as np

from agent.errors import AntiphonError

log = logging.getLogger(__name__)

CHANNEL = 0
LEVEL = 1.0 / 32768.0  # int16 -> float
GAIN = 0.6  # FluidSynth's master gain: a dense bar of chords stays below full scale


class NoteSynth:
    """A soundfont program rendering a note time line in order (see the module docstring)."""

    def __init__(self, soundfont: Path, rate_hz: int, program: int = 0) -> None:
        try:
            import fluidsynth
        except ImportError as exc:  # pyfluidsynth loads libfluidsynth when imported
            raise AntiphonError(f"the arranger plays its notes with FluidSynth: {exc} (install the fluidsynth package and pyfluidsynth)") from exc
        if not Path(soundfont).is_file():
            raise AntiphonError(f"soundfont {soundfont} does not exist (install fluid-soundfont-gm or set ANTIPHON_SOUNDFONT)")
        if not 0 <= program <= 127:
            raise AntiphonError(f"program must be a General MIDI program 0..127, got {program}")
        self.rate_hz = rate_hz
        self.program = program
        self.synth = fluidsynth.Synth(gain=GAIN, samplerate=float(rate_hz))
        sfid = self.synth.sfload(str(soundfont))
        if sfid < 0:
            raise AntiphonError(f"FluidSynth cannot read the soundfont {soundfont}")
        self.synth.program_select(CHANNEL, sfid, 0, program)
        self.rendered = 0  # time-line sample up to which audio was returned
        self._offs: list[tuple[int, int]] = []  # (sample, pitch) heap of note-offs to come
        self._sounding = np.zeros(128, dtype=np.int64)  # notes sounding per key

    def reset(self, at: int = 0) -> None:
        """Silence everything; the next render starts at time-line sample ``at``."""
        for pitch in np.nonzero(self._sounding)[0]:
            self.synth.noteoff(CHANNEL, int(pitch))
        self._offs = []
        self._sounding[:] = 0
        self.rendered = at

    def render_until(self, end: int, notes: np.ndarray | None = None) -> np.ndarray:
        """Audio of time-line samples [rendered, end) with ``notes`` [n, 4] int64 (onset sample,
        end sample, pitch, velocity) started there; float32 mono. Onsets before ``rendered`` start at once."""
        events: list[tuple[int, int, int, int]] = []  # (sample, order, pitch, velocity): offs (0) before ons (1) at one sample
        for onset, stop, pitch, velocity in np.asarray(notes if notes is not None else np.zeros((0, 4)), dtype=np.int64).reshape(-1, 4):
            onset = max(int(onset), self.rendered)
            events.append((onset, 1, int(pitch), int(velocity)))
            heapq.heappush(self._offs, (max(int(stop), onset + 1), int(pitch)))
        events.sort()
        begin = self.rendered
        out = np.zeros(max(end - begin, 0), dtype=np.float32)
        ons = iter(events)
        pending = next(ons, None)
        while self.rendered < end:
            next_on = pending[0] if pending is not None else end
            next_off = self._offs[0][0] if self._offs else end
            at = min(max(min(next_on, next_off), self.rendered), end)
            if at > self.rendered:
                stereo = np.asarray(self.synth.get_samples(at - self.rendered), dtype=np.float32).reshape(-1, 2)
                out[self.rendered - begin : at - begin] = stereo.mean(axis=1) * LEVEL
                self.rendered = at
            if at >= end:
                break
            while self._offs and self._offs[0][0] <= at:
                _, pitch = heapq.heappop(self._offs)
                self._sounding[pitch] -= 1
                if self._sounding[pitch] == 0:  # two notes on one key overlap: the key is released when the last one ends
                    self.synth.noteoff(CHANNEL, pitch)
            while pending is not None and pending[0] <= at:
                self.synth.noteon(CHANNEL, pending[2], max(1, min(127, pending[3])))
                self._sounding[pending[2]] += 1
                pending = next(ons, None)
        return out

    def close(self) -> None:
        self.synth.delete()
