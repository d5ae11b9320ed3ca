"""A POP909 song as the arranger learns from it: its three parts as notes, its beats and its chords.

POP909 (Wang et al., ISMIR 2020; MIT licence; the public repository music-x-lab/POP909-Dataset)
holds, per song folder ``NNN/``: ``NNN.mid`` with the tracks MELODY, BRIDGE and PIANO on a MIDI
clock whose beats match the annotations, ``beat_midi.txt`` (``time_s is_beat is_downbeat``, one
line per MIDI beat; bars start at the downbeats) and ``chord_midi.txt`` (``start_s end_s chord``,
Harte syntax such as ``C:maj``, ``A:min7``, ``G:maj/3``, ``N``).

Chords are learned and scored in the *majmin* vocabulary (mir_eval's): N, 12 major and 12 minor
triads, 25 classes; a chord maps to major or minor by its third (sus chords, with no third, go to
major for training and are left out of the majmin score, as mir_eval does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import mir_eval
import numpy as np

from agent.demo.pop909 import read_tracks
from agent.errors import AntiphonError

PARTS = ("melody", "bridge", "piano")
TRACK_NAMES = {"melody": "MELODY", "bridge": "BRIDGE", "piano": "PIANO"}
NUM_CHORDS = 25  # N, C..B major, C..B minor
NO_CHORD = 0
PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Song:
    """One song: notes per part as float64 [n, 4] (onset s, duration s, MIDI pitch, velocity), beat
    times [B] with a downbeat mask [B], and chord segments (start s, end s, Harte label)."""

    name: str
    notes: dict[str, np.ndarray]
    beats: np.ndarray
    downbeats: np.ndarray
    chords: list[tuple[float, float, str]]

    @property
    def duration_s(self) -> float:
        ends = [float((n[:, 0] + n[:, 1]).max()) for n in self.notes.values() if len(n)]
        return max([*ends, self.chords[-1][1] if self.chords else 0.0, float(self.beats[-1]) if len(self.beats) else 0.0])

    def transformed(self, shift: int, time_scale: float) -> "Song":
        """The song transposed by ``shift`` semitones and played ``time_scale`` times as long."""
        notes = {}
        for part, n in self.notes.items():
            m = n.copy()
            m[:, :2] *= time_scale
            m[:, 2] = np.clip(m[:, 2] + shift, 0, 127)
            notes[part] = m
        chords = [(a * time_scale, b * time_scale, transpose_chord(c, shift)) for a, b, c in self.chords]
        return replace(self, notes=notes, beats=self.beats * time_scale, chords=chords)

    def window(self, start_s: float, end_s: float) -> "Song":
        """Notes, beats and chords in [start_s, end_s), re-timed from ``start_s``."""
        notes = {}
        for part, n in self.notes.items():
            keep = (n[:, 0] >= start_s) & (n[:, 0] < end_s)
            m = n[keep].copy()
            m[:, 0] -= start_s
            m[:, 1] = np.minimum(m[:, 1], end_s - start_s - m[:, 0])
            notes[part] = m
        keep = (self.beats >= start_s) & (self.beats < end_s)
        chords = [(max(a, start_s) - start_s, min(b, end_s) - start_s, c) for a, b, c in self.chords if b > start_s and a < end_s]
        return replace(self, notes=notes, beats=self.beats[keep] - start_s, downbeats=self.downbeats[keep], chords=chords)


def read_song(folder: Path) -> Song:
    """Read one POP909 song folder (one-line errors for missing or malformed files)."""
    folder = Path(folder)
    midi_path = folder / f"{folder.name}.mid"
    if not midi_path.is_file():
        raise AntiphonError(f"{folder}: no {midi_path.name} (a POP909 song folder holds NNN.mid and its annotations)")
    return Song(name=folder.name, notes=read_parts(midi_path), **_read_beats(folder / "beat_midi.txt"), chords=_read_chords(folder / "chord_midi.txt"))


def read_parts(midi_path: Path) -> dict[str, np.ndarray]:
    """Notes of the MELODY, BRIDGE and PIANO tracks in seconds (the file's tempo map applied)."""
    return read_tracks(midi_path, TRACK_NAMES)


def _rows(path: Path, columns: int, what: str) -> list[list[str]]:
    if not path.is_file():
        raise AntiphonError(f"{path}: missing ({what})")
    rows = [line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    bad = next((i for i, r in enumerate(rows) if len(r) < columns), None)
    if bad is not None or not rows:
        raise AntiphonError(f"{path}: line {1 if bad is None else bad + 1} is not '{what}'")
    return rows


def _read_beats(path: Path) -> dict[str, np.ndarray]:
    rows = _rows(path, 3, "time_s is_beat is_downbeat")
    try:
        table = np.array([[float(r[0]), float(r[2])] for r in rows])
    except ValueError as exc:
        raise AntiphonError(f"{path}: not numbers ({exc})") from None
    return {"beats": table[:, 0], "downbeats": table[:, 1] > 0.5}


def _read_chords(path: Path) -> list[tuple[float, float, str]]:
    chords = []
    for i, r in enumerate(_rows(path, 3, "start_s end_s chord")):
        try:
            start, end = float(r[0]), float(r[1])
            mir_eval.chord.encode(r[2])
        except (ValueError, mir_eval.chord.InvalidChordException) as exc:
            raise AntiphonError(f"{path}: line {i + 1}: {exc}") from None
        if end > start:
            chords.append((start, end, r[2]))
    return chords


def transpose_chord(label: str, shift: int) -> str:
    """A Harte label moved by ``shift`` semitones (its bass is an interval: it moves along)."""
    if shift % 12 == 0 or label in ("N", "X"):
        return label
    root, quality, extensions, bass = mir_eval.chord.split(label)
    pc = (mir_eval.chord.pitch_class_to_semitone(root) + shift) % 12
    return mir_eval.chord.join(PITCH_NAMES[pc], quality, extensions or None, bass if bass not in ("", "1") else "")


def chord_class(label: str) -> int:
    """The majmin class of a Harte label: 0 = N, 1 + root = major, 13 + root = minor."""
    root, bitmap, _ = mir_eval.chord.encode(label)
    if root < 0:
        return NO_CHORD
    return (13 if bitmap[3] and not bitmap[4] else 1) + root


def class_label(index: int) -> str:
    """The Harte label of a majmin class."""
    if index == NO_CHORD:
        return "N"
    return f"{PITCH_NAMES[(index - 1) % 12]}:{'maj' if index < 13 else 'min'}"


def class_pitches(index: int) -> tuple[int, ...]:
    """Pitch classes of a majmin class's triad (none for N)."""
    if index == NO_CHORD:
        return ()
    root = (index - 1) % 12
    return (root, (root + (4 if index < 13 else 3)) % 12, (root + 7) % 12)


def chord_frames(chords: list[tuple[float, float, str]], times: np.ndarray) -> np.ndarray:
    """The majmin class sounding at each of ``times`` (N outside every chord)."""
    out = np.full(len(times), NO_CHORD, dtype=np.int64)
    if not chords:
        return out
    starts = np.array([a for a, _, _ in chords])
    ends = np.array([b for _, b, _ in chords])
    classes = np.array([chord_class(c) for _, _, c in chords])
    i = np.searchsorted(starts, times, side="right") - 1
    inside = (i >= 0) & (times < ends[np.maximum(i, 0)])
    out[inside] = classes[i[inside]]
    return out
