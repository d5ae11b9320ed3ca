"""POP909 songs to a melody -> piano pairs folder: tempo map, window, transposition, cache, errors."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from agent.demo.pop909 import make_pop909_pairs, song_tracks, window
from agent.demo.pop909_config import Pop909PairsConfig
from agent.errors import AntiphonError
from agent.files import read_json_object


def write_song(folder: Path, bpm: float = 120.0, tracks: tuple[str, ...] = ("MELODY", "BRIDGE", "PIANO")) -> Path:
    """A POP909-shaped MIDI file: a conductor track (tempo) and named tracks of quarter notes."""
    folder.mkdir(parents=True)
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]))
    for k, name in enumerate(tracks):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        base = 72 if name == "MELODY" else 48
        for i in range(16):  # a rest of one beat, then 16 quarter notes
            track.append(mido.Message("note_on", note=base + i % 5, velocity=90, channel=k, time=480 if i == 0 else 0))
            track.append(mido.Message("note_off", note=base + i % 5, velocity=0, channel=k, time=480))
        midi.tracks.append(track)
    midi.save(str(folder / f"{folder.name}.mid"))
    return folder


def test_song_tracks_apply_the_tempo_map(tmp_path: Path) -> None:
    notes = song_tracks(write_song(tmp_path / "001", bpm=120.0) / "001.mid")
    assert notes["melody"][0] == pytest.approx((0.5, 0.5, 72))  # one beat of rest at 120 bpm
    assert notes["piano"][3] == pytest.approx((2.0, 0.5, 51))
    assert len(notes["melody"]) == len(notes["piano"]) == 16


def test_window_starts_before_the_first_melody_note_and_transposes(tmp_path: Path) -> None:
    notes = song_tracks(write_song(tmp_path / "001") / "001.mid")
    cut, duration = window(notes, seconds=3.0, shift=-2)
    assert cut["melody"][0] == pytest.approx((0.5, 0.5, 70))  # starts 0.5 s before the first note
    assert all(a < 3.0 for a, _, _ in cut["piano"]) and len(cut["piano"]) == 5  # notes at 0.5 .. 2.5 s
    assert duration == pytest.approx(4.0)


def test_pairs_are_rendered_split_and_cached(tmp_path: Path) -> None:
    root = tmp_path / "POP909"
    for i in range(1, 5):
        write_song(root / f"{i:03d}")
    out = tmp_path / "pairs"
    config = Pop909PairsConfig(songs=4, seconds=5.0)
    names = make_pop909_pairs(root, out, config, workers=2)
    assert names == ["001", "002", "003", "004"]
    import soundfile as sf

    for name in names:
        info = sf.info(str(out / name / "piano.flac"))
        assert info.duration == pytest.approx(6.0, abs=0.01)
        assert (out / name / "melody.flac").is_file()
    split = read_json_object(out / "split.json", "split")
    assert len(split["heldout"]) >= 2 and sorted(split["heldout"] + split["train"]) == names
    stamp = (out / "001" / "piano.flac").stat().st_mtime_ns
    make_pop909_pairs(root, out, config, workers=2)
    assert (out / "001" / "piano.flac").stat().st_mtime_ns == stamp  # cached: not rendered again
    make_pop909_pairs(root, out, Pop909PairsConfig(songs=4, seconds=5.0, seed=1), workers=2)
    assert (out / "001" / "piano.flac").stat().st_mtime_ns != stamp  # another seed: other instruments/key


def test_bad_sources_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="does not exist"):
        make_pop909_pairs(tmp_path / "missing", tmp_path / "out", Pop909PairsConfig(songs=1))
    write_song(tmp_path / "POP909" / "001", tracks=("MELODY", "BRIDGE"))
    with pytest.raises(AntiphonError, match="no PIANO track"):
        make_pop909_pairs(tmp_path / "POP909", tmp_path / "out", Pop909PairsConfig(songs=1))
    with pytest.raises(AntiphonError, match="songs must be"):
        Pop909PairsConfig(songs=0)
