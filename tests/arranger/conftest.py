"""A small POP909-like folder written by the tests (CI has no POP909): songs with MELODY, BRIDGE and
PIANO tracks, beats and chords, so that reading, rendering and chord training run on real files."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

PROGRESSIONS = (((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")), ((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")), ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")))
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def triad(root: int, quality: str) -> list[int]:
    return [root, root + (4 if quality == "maj" else 3), root + 7]


def write_song(folder: Path, key: int, progression: tuple, bars: int = 8, bpm: float = 100.0, seed: int = 0) -> None:
    """One song in 4/4: the piano plays the chord's triad on every beat, the melody a chord tone per
    beat, the bridge holds the root; one chord per bar."""
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    ticks = 480
    parts: dict[str, list[tuple[int, int, int, int]]] = {"MELODY": [], "BRIDGE": [], "PIANO": []}
    chords, beats = [], []
    for bar in range(bars):
        root, quality = progression[bar % len(progression)]
        root = (root + key) % 12
        chords.append((bar * 4 * beat_s, (bar + 1) * 4 * beat_s, f"{NAMES[root]}:{quality}"))
        for beat in range(4):
            t = (bar * 4 + beat) * ticks
            beats.append(((bar * 4 + beat) * beat_s, 1 if beat % 2 == 0 else 0, 1 if beat == 0 else 0))
            for p in triad(root, quality):
                parts["PIANO"].append((t, ticks - 20, 48 + p, 70))
            parts["MELODY"].append((t, ticks - 10, 72 + int(rng.choice(triad(root, quality))), 90))
        parts["BRIDGE"].append((bar * 4 * ticks, 4 * ticks - 10, 60 + root, 50))
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)])
    midi.tracks.append(conductor)
    for name, notes in parts.items():
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        events = sorted([(t, 1, p, v) for t, d, p, v in notes] + [(t + d, 0, p, 0) for t, d, p, v in notes])
        now = 0
        for tick, on, pitch, velocity in events:
            track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=velocity, time=tick - now))
            now = tick
        midi.tracks.append(track)
    folder.mkdir(parents=True)
    midi.save(str(folder / f"{folder.name}.mid"))
    (folder / "beat_midi.txt").write_text("".join(f"{t} {b}.0 {d}.0\n" for t, b, d in beats))
    (folder / "chord_midi.txt").write_text("".join(f"{a}\t{b}\t{c}\n" for a, b, c in chords))


def write_fake_pop909(root: Path, songs: int = 12, bars: int = 8) -> Path:
    for i in range(songs):
        write_song(root / f"{i + 1:03d}", key=(5 * i) % 12, progression=PROGRESSIONS[i % len(PROGRESSIONS)], bars=bars, bpm=90.0 + 5 * (i % 4), seed=i)
    return root


@pytest.fixture(scope="session")
def fake_pop909(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_pop909(tmp_path_factory.mktemp("pop909") / "POP909")


@pytest.fixture(scope="session")
def fake_song_set(fake_pop909: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake songs rendered (mix and melody, 2 renderings each); the SHA-1 rule holds out 006 and 012."""
    from agent.arranger.song_set import SongSetConfig, make_song_set

    out = tmp_path_factory.mktemp("songs") / "set"
    make_song_set(fake_pop909, out, SongSetConfig(songs=12, variants=2), workers=2)
    return out
