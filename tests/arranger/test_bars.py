"""Cutting songs into 16-step bars: the grid follows the beats, 4-beat bars only, known answers."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from agent.arranger.bars import Bar, bar_roll, beat_positions, cut_bars, notes_in_seconds, quantise, read_bars
from agent.arranger.songs import Song, chord_class


def song_with(beats: list[float], downbeats: list[int], chords: list[tuple[float, float, str]], melody: list[tuple], piano: list[tuple]) -> Song:
    mask = np.zeros(len(beats), dtype=bool)
    mask[downbeats] = True
    notes = {"melody": np.array(melody, dtype=np.float64).reshape(-1, 4), "bridge": np.zeros((0, 4)),
             "piano": np.array(piano, dtype=np.float64).reshape(-1, 4)}
    return Song(name="t", notes=notes, beats=np.array(beats, dtype=np.float64), downbeats=mask, chords=chords)


def test_bars_of_four_beats_on_the_beat_grid() -> None:
    # 0.5 s beats; bars at beats 0 (4 beats), 4 (3 beats: skipped), 7 (4 beats), then a last downbeat at 11
    beats = [0.5 * i for i in range(15)]
    song = song_with(
        beats, [0, 4, 7, 11],
        chords=[(0.0, 1.0, "C:maj"), (1.0, 2.0, "G:maj"), (2.0, 3.5, "A:min"), (3.5, 7.5, "F:maj7")],
        melody=[(0.0, 0.5, 72, 90), (0.75, 0.25, 74, 90), (0.875, 0.5, 76, 90)],  # the third overlaps the second: it wins from its onset
        piano=[(0.0, 1.0, 48, 90), (0.13, 0.12, 60, 70), (1.75, 0.5, 64, 80), (1.75, 0.5, 64, 60), (3.5, 0.5, 53, 100)],
    )
    cut = cut_bars(song)
    assert len(cut.bars) == 2 and cut.skipped_bars == 1
    assert cut.follows.tolist() == [False, False]  # the second kept bar does not follow the first
    first, second = cut.bars
    assert first.chords.tolist() == [chord_class("C:maj")] * 8 + [chord_class("G:maj")] * 8
    assert first.melody_pitch.tolist() == [72] * 4 + [0, 0, 74] + [76] * 4 + [0] * 5
    assert np.nonzero(first.melody_onset)[0].tolist() == [0, 6, 7]
    # onset step, pitch, duration steps (cut at the bar's end), velocity; the double 64 is one note
    assert first.notes.tolist() == [[0, 48, 8, 90], [1, 60, 1, 70], [14, 64, 2, 80]]
    assert cut.cut_notes == 1
    assert second.chords.tolist() == [chord_class("F:maj7")] * 16  # majmin: F major
    assert sorted(np.nonzero(second.chord_tones[0])[0].tolist()) == [0, 4, 5, 9]  # F A C E: the full chord
    assert second.notes.tolist() == [[0, 53, 4, 100]]
    assert second.step_times_s[0] == pytest.approx(3.5) and second.step_times_s[-1] == pytest.approx(5.5)


def test_the_grid_bends_with_the_tempo() -> None:
    beats = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0]  # the second bar at half speed
    song = song_with(beats, [0, 4, 8], [(0.0, 6.0, "D:min")], [], [(2.5, 1.0, 50, 80), (1.95, 0.3, 62, 80)])
    cut = cut_bars(song)
    assert len(cut.bars) == 2 and cut.follows.tolist() == [False, True]
    # 2.5 s is beat 4.5 -> step 2 of bar 2, lasting 1 beat = 4 steps; 1.95 s rounds to the next bar's step 0
    assert cut.bars[1].notes.tolist() == [[0, 62, 1, 80], [2, 50, 4, 80]]
    assert cut.bars[1].step_times_s[4] == pytest.approx(3.0)
    np.testing.assert_allclose(notes_in_seconds(cut.bars[1])[1], [2.5, 1.0, 50, 80])


def test_quantise_and_beat_positions_extend_past_the_ends() -> None:
    beats = np.array([1.0, 2.0, 3.0])
    assert beat_positions(np.array([0.5, 2.5, 4.0]), beats).tolist() == [-0.5, 1.5, 3.0]
    q = quantise(np.array([[2.0, 0.01, 60, 64]]), beats)
    assert q.tolist() == [[4, 5, 60, 64]]  # at least one step long


def test_transposition_moves_chords_melody_and_notes() -> None:
    bar = Bar(chords=np.array([chord_class("A:min")] * 8 + [0] * 8), melody_pitch=np.array([69] * 4 + [0] * 12),
              melody_onset=np.zeros(16, dtype=bool), notes=np.array([[0, 57, 4, 80]]), chord_tones=np.eye(12, dtype=bool)[[9] * 16])
    moved = bar.transposed(5)
    assert moved.chords.tolist() == [chord_class("D:min")] * 8 + [0] * 8
    assert moved.melody_pitch.tolist() == [74] * 4 + [0] * 12
    assert moved.notes.tolist() == [[0, 62, 4, 80]]
    assert moved.chord_tones[0, 2]
    assert bar_roll(moved.notes)[:, 62].tolist() == [True] * 4 + [False] * 12


def _write_song(folder: Path) -> None:
    """A POP909-shaped folder: MIDI with tempo and named tracks, beat and chord annotations."""
    folder.mkdir(parents=True)
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)]))
    for k, (name, pitch) in enumerate((("MELODY", 72), ("BRIDGE", 60), ("PIANO", 48))):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        for i in range(8):  # eight quarter notes
            track.append(mido.Message("note_on", note=pitch + i % 3, velocity=80, channel=k, time=0))
            track.append(mido.Message("note_off", note=pitch + i % 3, velocity=0, channel=k, time=480))
        midi.tracks.append(track)
    midi.save(str(folder / f"{folder.name}.mid"))
    (folder / "beat_midi.txt").write_text("".join(f"{0.5 * i} 1.0 {1.0 if i % 4 == 0 else 0.0}\n" for i in range(9)))
    (folder / "chord_midi.txt").write_text("0.0\t2.0\tC:maj\n2.0\t4.0\tG:7\n")


def test_read_bars_from_a_song_folder(tmp_path: Path) -> None:
    _write_song(tmp_path / "001")
    cut = read_bars(tmp_path / "001")
    assert len(cut.bars) == 2 and cut.follows.tolist() == [False, True]
    assert cut.bars[1].notes[:, :3].tolist() == [[0, 49, 4], [4, 50, 4], [8, 48, 4], [12, 49, 4]]
    assert cut.bars[1].chords.tolist() == [chord_class("G:maj")] * 16
