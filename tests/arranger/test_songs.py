"""Reading POP909 songs: parts, beats, chords, transposition, windows, majmin classes, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.arranger.songs import chord_class, chord_frames, class_label, class_pitches, read_song, transpose_chord
from agent.errors import AntiphonError


def test_a_song_reads_with_its_parts_beats_and_chords(fake_pop909: Path) -> None:
    song = read_song(fake_pop909 / "001")
    assert set(song.notes) == {"melody", "bridge", "piano"}
    assert len(song.notes["piano"]) == 8 * 4 * 3 and len(song.notes["melody"]) == 32 and len(song.notes["bridge"]) == 8
    beat = 60.0 / 90.0
    np.testing.assert_allclose(song.beats[:3], [0, beat, 2 * beat], atol=1e-6)
    assert song.downbeats.sum() == 8 and song.downbeats[0] and not song.downbeats[1]
    assert [c for _, _, c in song.chords[:4]] == ["C:maj", "G:maj", "A:min", "F:maj"]
    np.testing.assert_allclose(song.notes["piano"][0], [0.0, (480 - 20) / 480 * beat, 48, 70], atol=1e-3)


def test_transposing_and_windowing_move_notes_chords_and_beats_together(fake_pop909: Path) -> None:
    song = read_song(fake_pop909 / "001")
    moved = song.transformed(3, 1.5)
    assert moved.chords[0][2] == "Eb:maj" and moved.chords[2][2] == "C:min"
    np.testing.assert_allclose(moved.notes["piano"][:, 2], song.notes["piano"][:, 2] + 3)
    np.testing.assert_allclose(moved.beats, song.beats * 1.5)
    bar = 4 * 60.0 / 90.0
    part = song.window(bar, 3 * bar)
    assert [c for _, _, c in part.chords] == ["G:maj", "A:min"]
    assert part.chords[0][0] == pytest.approx(0.0) and part.downbeats.sum() == 2
    assert part.notes["melody"][:, 0].min() >= 0 and len(part.notes["melody"]) == 8


def test_majmin_classes_and_transposed_labels() -> None:
    assert transpose_chord("G:maj/3", 3) == "Bb:maj/3" and transpose_chord("A:min7", -2) == "G:min7" and transpose_chord("N", 5) == "N"
    assert [class_label(chord_class(c)) for c in ("C:maj", "A:min7", "G:maj/3", "C:sus4", "N", "B:hdim7")] == ["C:maj", "A:min", "G:maj", "C:maj", "N", "B:min"]
    assert class_pitches(chord_class("A:min")) == (9, 0, 4) and class_pitches(0) == ()
    frames = chord_frames([(0.0, 1.0, "C:maj"), (2.0, 3.0, "D:min")], np.array([0.5, 1.5, 2.5, 3.5]))
    assert frames.tolist() == [chord_class("C:maj"), 0, chord_class("D:min"), 0]


def test_bad_song_folders_get_one_line_errors(tmp_path: Path, fake_pop909: Path) -> None:
    import shutil

    folder = tmp_path / "001"
    with pytest.raises(AntiphonError, match="no 001.mid"):
        read_song(folder)
    shutil.copytree(fake_pop909 / "001", folder)
    (folder / "chord_midi.txt").write_text("0.0 1.0 C:maj\n1.0 2.0 Q:weird\n")
    with pytest.raises(AntiphonError, match="chord_midi.txt: line 2"):
        read_song(folder)
    (folder / "chord_midi.txt").write_text("0.0 1.0\n")
    with pytest.raises(AntiphonError, match="is not 'start_s end_s chord'"):
        read_song(folder)
    shutil.copy(fake_pop909 / "001" / "chord_midi.txt", folder / "chord_midi.txt")
    (folder / "001.mid").write_bytes(b"not midi")
    with pytest.raises(AntiphonError, match="not a readable MIDI file"):
        read_song(folder)
