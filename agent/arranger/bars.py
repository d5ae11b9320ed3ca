"""A song cut into bars on a 16th-note grid: what the texture model hears and plays, bar by bar.

A bar runs from one downbeat to the next; only bars of 4 beats (16 steps) are kept, the others are
counted and skipped. Times are mapped to the grid through the beats (linear between two beats, so
a tempo change moves the grid with it): a note's onset and end go to the nearest 16th step. Per bar:

- ``chords``: the majmin class (agent/arranger/songs.py) sounding at the middle of each step;
- ``chord_tones``: the pitch classes of the full Harte chord at each step (root, every interval of
  the label, its bass): for evaluation only, the model never sees them;
- ``melody_pitch`` (0 = rest) and ``melody_onset`` per step, from the quantised melody (where two
  melody notes overlap, the later one);
- ``notes``: the piano part as events [n, 4] int64 (onset step 0..15, MIDI pitch, duration in steps,
  velocity), sorted by onset then pitch; a note held past the bar's end is cut there (the next bar
  plays again what it needs), two notes on one key and step are one (the longer);
- ``step_times_s``: the 17 grid times (step 0 .. the next downbeat), to place generated events back
  on the song's time line (``notes_in_seconds``).

Nothing here depends on the model: the texture model (texture_model.py) encodes these bars, the
evaluation (texture_eval.py) scores them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import mir_eval
import numpy as np
from tqdm import tqdm

from agent.arranger.songs import NO_CHORD, Song, chord_frames, read_song
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

STEPS_PER_BEAT = 4
BEATS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR
REST = 0  # melody_pitch of a step where the melody is silent
NOTE_FIELDS = ("onset_step", "pitch", "duration_steps", "velocity")


def empty_notes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.int64)


@dataclass(frozen=True)
class Bar:
    """One 16-step bar: its conditions (chords, melody) and its piano part as note events."""

    chords: np.ndarray  # int64 [16] majmin class per step (0 = N)
    melody_pitch: np.ndarray  # int64 [16] MIDI pitch sounding at each step, 0 = rest
    melody_onset: np.ndarray  # bool [16] a melody note starts at this step
    notes: np.ndarray = field(default_factory=empty_notes)  # int64 [n, 4] onset step, pitch, duration steps, velocity
    chord_tones: np.ndarray | None = None  # bool [16, 12] full Harte chord per step (evaluation only)
    step_times_s: np.ndarray | None = None  # float64 [17] grid times of steps 0..16 on the song's time line

    def with_notes(self, notes: np.ndarray) -> "Bar":
        """The same bar with another piano part (e.g. a generated one)."""
        return replace(self, notes=np.asarray(notes, dtype=np.int64).reshape(-1, 4))

    def transposed(self, shift: int) -> "Bar":
        """Chords, melody and piano moved by ``shift`` semitones (pitches kept in 0..127)."""
        if shift == 0:
            return self
        chords = np.where(self.chords == NO_CHORD, NO_CHORD, (self.chords - 1) // 12 * 12 + (self.chords - 1 + shift) % 12 + 1)
        melody = np.where(self.melody_pitch == REST, REST, np.clip(self.melody_pitch + shift, 1, 127))
        notes = self.notes.copy()
        notes[:, 1] = np.clip(notes[:, 1] + shift, 0, 127)
        tones = None if self.chord_tones is None else np.roll(self.chord_tones, shift, axis=1)
        return replace(self, chords=chords, melody_pitch=melody, notes=notes, chord_tones=tones)


@dataclass(frozen=True)
class SongBars:
    """A song's kept bars in order; ``follows[i]``: bar i starts where bar i - 1 ends (no bar skipped between)."""

    name: str
    bars: list[Bar]
    follows: np.ndarray  # bool [len(bars)]
    skipped_bars: int  # downbeat-to-downbeat spans of other than 4 beats
    cut_notes: int  # piano notes held past their bar's end (cut there)


def beat_positions(times_s: np.ndarray, beats_s: np.ndarray) -> np.ndarray:
    """Fractional beat index of each time: linear between beats, extended past both ends at the
    nearest beat period."""
    times_s = np.asarray(times_s, dtype=np.float64)
    index = np.arange(len(beats_s), dtype=np.float64)
    pos = np.interp(times_s, beats_s, index)
    if len(beats_s) >= 2:
        first, last = beats_s[1] - beats_s[0], beats_s[-1] - beats_s[-2]
        pos = np.where(times_s < beats_s[0], (times_s - beats_s[0]) / first, pos)
        pos = np.where(times_s > beats_s[-1], index[-1] + (times_s - beats_s[-1]) / last, pos)
    return pos


def beat_times(positions: np.ndarray, beats_s: np.ndarray) -> np.ndarray:
    """The inverse of ``beat_positions``: seconds at fractional beat indices."""
    positions = np.asarray(positions, dtype=np.float64)
    index = np.arange(len(beats_s), dtype=np.float64)
    out = np.interp(positions, index, beats_s)
    if len(beats_s) >= 2:
        first, last = beats_s[1] - beats_s[0], beats_s[-1] - beats_s[-2]
        out = np.where(positions < 0, beats_s[0] + positions * first, out)
        out = np.where(positions > index[-1], beats_s[-1] + (positions - index[-1]) * last, out)
    return out


def quantise(notes: np.ndarray, beats_s: np.ndarray) -> np.ndarray:
    """Notes [n, 4] (onset s, duration s, pitch, velocity) as int64 [n, 4] (global onset step,
    global end step, pitch, velocity), each time at the nearest 16th step; at least one step long."""
    if not len(notes):
        return np.zeros((0, 4), dtype=np.int64)
    onset = np.rint(STEPS_PER_BEAT * beat_positions(notes[:, 0], beats_s)).astype(np.int64)
    end = np.rint(STEPS_PER_BEAT * beat_positions(notes[:, 0] + notes[:, 1], beats_s)).astype(np.int64)
    return np.stack([onset, np.maximum(end, onset + 1), notes[:, 2].astype(np.int64), notes[:, 3].astype(np.int64)], axis=1)


@lru_cache(maxsize=4096)
def harte_tones(label: str) -> tuple[int, ...]:
    """Pitch classes of a Harte chord: root plus every interval of the label and its bass (none for N/X)."""
    root, bitmap, bass = mir_eval.chord.encode(label)
    if root < 0:
        return ()
    return tuple(sorted({(root + i) % 12 for i in np.nonzero(bitmap)[0]} | {root % 12, (root + bass) % 12}))


def chord_tone_frames(chords: list[tuple[float, float, str]], times_s: np.ndarray) -> np.ndarray:
    """bool [len(times), 12]: the full Harte chord's pitch classes at each time (none outside chords)."""
    out = np.zeros((len(times_s), 12), dtype=bool)
    if not chords:
        return out
    starts = np.array([a for a, _, _ in chords])
    ends = np.array([b for _, b, _ in chords])
    table = np.zeros((len(chords), 12), dtype=bool)
    for j, (_, _, label) in enumerate(chords):
        table[j, list(harte_tones(label))] = True
    i = np.searchsorted(starts, times_s, side="right") - 1
    inside = (i >= 0) & (times_s < ends[np.maximum(i, 0)])
    out[inside] = table[i[inside]]
    return out


def melody_steps(melody_q: np.ndarray, first_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step of the bar starting at global step ``first_step``: the melody pitch sounding (0 =
    rest; the later note where two overlap) and whether a melody note starts there."""
    pitch = np.full(STEPS_PER_BAR, REST, dtype=np.int64)
    onset = np.zeros(STEPS_PER_BAR, dtype=bool)
    last = first_step + STEPS_PER_BAR
    for start, end, p, _ in melody_q[(melody_q[:, 1] > first_step) & (melody_q[:, 0] < last)]:  # by onset: later notes win
        a, b = max(start, first_step) - first_step, min(end, last) - first_step
        pitch[a:b] = p
        if start >= first_step:
            onset[start - first_step] = True
    return pitch, onset


def bar_notes(piano_q: np.ndarray, first_step: int) -> tuple[np.ndarray, int]:
    """The piano events starting in the bar, local and sorted (onset, pitch), cut at the bar's end;
    and how many were cut."""
    inside = piano_q[(piano_q[:, 0] >= first_step) & (piano_q[:, 0] < first_step + STEPS_PER_BAR)]
    if not len(inside):
        return empty_notes(), 0
    onset = inside[:, 0] - first_step
    duration = inside[:, 1] - inside[:, 0]
    notes = np.stack([onset, inside[:, 2], duration, inside[:, 3]], axis=1)
    notes = notes[np.lexsort((-notes[:, 2], notes[:, 1], notes[:, 0]))]  # by onset, pitch, longest first
    keep = np.ones(len(notes), dtype=bool)
    keep[1:] = (notes[1:, 0] != notes[:-1, 0]) | (notes[1:, 1] != notes[:-1, 1])
    notes = notes[keep]
    cut = int(np.sum(notes[:, 0] + notes[:, 2] > STEPS_PER_BAR))
    notes[:, 2] = np.minimum(notes[:, 2], STEPS_PER_BAR - notes[:, 0])
    return notes, cut


def cut_bars(song: Song) -> SongBars:
    """Cut a song into its 4-beat bars on the 16th grid (see the module's docstring)."""
    beats = np.asarray(song.beats, dtype=np.float64)
    downbeats = np.nonzero(song.downbeats)[0]
    melody_q = quantise(song.notes["melody"], beats)
    melody_q = melody_q[np.argsort(melody_q[:, 0], kind="stable")]
    piano_q = quantise(song.notes["piano"], beats)
    spans = [(int(a), int(b)) for a, b in zip(downbeats[:-1], downbeats[1:])]
    kept = [a for a, b in spans if b - a == BEATS_PER_BAR]
    grids = np.array([(STEPS_PER_BEAT * a + np.arange(STEPS_PER_BAR + 1)) / STEPS_PER_BEAT for a in kept]).reshape(-1, STEPS_PER_BAR + 1)
    step_times = beat_times(grids, beats)
    middles = (0.5 * (step_times[:, :-1] + step_times[:, 1:])).reshape(-1)
    chords = chord_frames(song.chords, middles).reshape(-1, STEPS_PER_BAR)  # once per song: it encodes every label
    tones = chord_tone_frames(song.chords, middles).reshape(-1, STEPS_PER_BAR, 12)
    bars: list[Bar] = []
    follows: list[bool] = []
    cut_total = 0
    previous_end = None
    for i, a in enumerate(kept):
        first = STEPS_PER_BEAT * a
        pitch, onset = melody_steps(melody_q, first)
        notes, cut = bar_notes(piano_q, first)
        cut_total += cut
        bars.append(Bar(chords=chords[i], melody_pitch=pitch, melody_onset=onset, notes=notes, chord_tones=tones[i], step_times_s=step_times[i]))
        follows.append(previous_end == a)
        previous_end = a + BEATS_PER_BAR
    skipped = len(spans) - len(kept)
    return SongBars(name=song.name, bars=bars, follows=np.array(follows, dtype=bool), skipped_bars=skipped, cut_notes=cut_total)


def read_bars(folder: Path) -> SongBars:
    """A POP909 song folder read (agent/arranger/songs.py) and cut into bars."""
    return cut_bars(read_song(Path(folder)))


def song_folders(pop909: Path) -> list[Path]:
    """The song folders (NNN/NNN.mid) of a POP909 folder, in name order (one-line errors)."""
    root = Path(pop909)
    if not root.is_dir():
        raise AntiphonError(f"POP909 folder {root} does not exist (get it from github.com/music-x-lab/POP909-Dataset and pass its POP909 folder)")
    songs = sorted(p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())
    if not songs:
        raise AntiphonError(f"{root} holds no POP909 song folders (NNN/NNN.mid)")
    return songs


def read_song_bars(folders: list[Path], desc: str = "reading songs") -> list[SongBars]:
    """Every folder cut into bars (songs without a kept bar left out, with a warning)."""
    out = []
    for folder in tqdm(folders, desc=desc, unit="song", disable=None, leave=False):
        bars = read_bars(folder)
        if not bars.bars:
            log.warning("song %s has no bar of 4 beats; left out", folder.name)
            continue
        out.append(bars)
    return out


def bar_roll(notes: np.ndarray) -> np.ndarray:
    """bool [16, 128]: which MIDI pitches sound at each step of a bar's events."""
    roll = np.zeros((STEPS_PER_BAR, 128), dtype=bool)
    for onset, pitch, duration, _ in np.asarray(notes, dtype=np.int64).reshape(-1, 4):
        roll[max(onset, 0):min(onset + duration, STEPS_PER_BAR), pitch] = True
    return roll


def notes_in_seconds(bar: Bar, notes: np.ndarray | None = None) -> np.ndarray:
    """A bar's events (its own, or ``notes``) on the song's time line: float64 [n, 4] (onset s,
    duration s, pitch, velocity), as songs.py holds notes."""
    if bar.step_times_s is None:
        raise ValueError("this bar has no step times (it was not cut from a song)")
    notes = np.asarray(bar.notes if notes is None else notes, dtype=np.int64).reshape(-1, 4)
    start = bar.step_times_s[notes[:, 0]]
    end = bar.step_times_s[np.minimum(notes[:, 0] + notes[:, 2], STEPS_PER_BAR)]
    return np.stack([start, end - start, notes[:, 1], notes[:, 3]], axis=1).astype(np.float64)
