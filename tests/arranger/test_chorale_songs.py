"""The chorales as the arranger's second source: POP909-format folders from music21's corpus, read
back by the POP909 reader, with chords named from the four voices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from agent.arranger.bars import cut_bars
from agent.arranger.chorale_songs import beat_chord
from agent.arranger.songs import chord_class, class_pitches, read_song


def test_a_beat_is_named_by_the_triad_its_voices_spell() -> None:
    assert beat_chord([48, 64, 67, 72]) == "C:maj"
    assert beat_chord([45, 60, 64, 69]) == "A:min"
    assert beat_chord([43, 59, 62, 65]) == "G:maj"  # a dominant seventh: its triad
    assert beat_chord([52, 59, 67, 71]) == "E:min"
    assert beat_chord([60, 61]) == "N" and beat_chord([]) == "N"


def test_chorale_songs_are_read_as_songs_with_bars_and_fitting_chords(tmp_path: Path) -> None:
    out = tmp_path / "chorales"
    result = subprocess.run([sys.executable, "-m", "agent", "-q", "make-chorale-songs", "--out", str(out), "--count", "8", "--bpm", "90"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert 3 <= len(folders) <= 8  # those in 3/4 are left out
    for folder in folders:
        song = read_song(folder)
        assert len(song.notes["bridge"]) == 0 and len(song.notes["piano"]) > 2 * len(song.notes["melody"]) > 20  # three lower voices
        assert np.allclose(np.diff(song.beats), 60.0 / 90.0, atol=1e-3) and song.downbeats.sum() >= 4
        bars = cut_bars(song)
        assert len(bars.bars) >= 4
        # the piano's sounding time mostly falls in the chord named for it (passing notes aside)
        inside = total = 0.0
        for onset, duration, pitch, _ in song.notes["piano"]:
            label = next((c for a, b, c in song.chords if a <= onset + 1e-3 < b), "N")
            if label != "N":
                total += duration
                inside += duration * (int(pitch) % 12 in class_pitches(chord_class(label)))
        assert inside / total > 0.7, (folder.name, inside / total)


def test_unisons_of_two_voices_become_one_piano_note() -> None:
    from agent.arranger.chorale_songs import merged_unisons

    notes = [(0.0, 2.0, 60), (1.0, 2.0, 60), (3.0, 1.0, 60), (0.0, 1.0, 64)]  # alto C 0-2, tenor C 1-3, then C again at 3
    assert merged_unisons(notes) == [(0.0, 1.0, 64), (0.0, 3.0, 60), (3.0, 1.0, 60)]


def test_a_bad_chorale_request_is_refused_in_one_line(tmp_path: Path) -> None:
    for args, message in ((["--count", "-1"], "-1 is negative"), (["--bpm", "500"], "bpm must be 30..240")):
        result = subprocess.run([sys.executable, "-m", "agent", "-q", "make-chorale-songs", "--out", str(tmp_path / "c"), *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode != 0 and message in result.stderr and not (tmp_path / "c").exists(), result.stderr
