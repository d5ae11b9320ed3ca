"""Loops cut from a POP909-like folder written by the tests (CI has no POP909): windows of whole 4/4
bars on the beat annotations, the tempo from the beats, whole songs held out."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from agent import paths
from agent.arranger.songs import read_song
from agent.demo.make_pairs import is_heldout
from agent.loops.loop_set import LoopSetConfig, split_loop_folder
from agent.loops.pop909_loops import make_pop909_loop_set, window_notes, windows
from tests.arranger.conftest import write_fake_pop909


def test_windows_keep_whole_bars_in_the_tempo_range(tmp_path: Path) -> None:
    root = write_fake_pop909(tmp_path / "POP909", songs=2, bars=8)
    song = read_song(root / "001")  # 90 bpm, 8 bars
    found = windows(song, 2, 80.0, 140.0)
    assert [d for d, _ in found] == [0, 4, 8, 12, 16, 20]  # every downbeat with two whole bars after it (the last bar has no closing downbeat)
    assert all(abs(bpm - 90.0) < 1e-6 for _, bpm in found)
    assert windows(song, 2, 100.0, 140.0) == []
    lines = (root / "001" / "beat_midi.txt").read_text().splitlines()
    lines[5] = lines[5].rsplit(" ", 1)[0] + " 1.0"  # a downbeat on beat 2 of bar 2: bars 1 and 2 are no longer 4/4
    (root / "001" / "beat_midi.txt").write_text("\n".join(lines) + "\n")
    assert [d for d, _ in windows(read_song(root / "001"), 2, 80.0, 140.0)][:2] == [8, 12]
    notes = window_notes(song, 4, 2)
    assert len(notes) == 24 and sorted({round(n[0], 3) for n in notes}) == [float(b) for b in range(8)]  # a triad on each of 8 beats


def test_a_pop909_loop_set_holds_out_whole_songs(tmp_path: Path) -> None:
    root = write_fake_pop909(tmp_path / "POP909", songs=12, bars=6)
    out = tmp_path / "loops"
    names = make_pop909_loop_set(root, out, LoopSetConfig(loops=12, bpm_low=85, bpm_high=110), paths.default_soundfont(), workers=2)
    assert len(names) == 12
    index = json.loads((out / "loops.json").read_text())
    for name in names:
        meta = json.loads((out / f"{name}.json").read_text())
        assert meta["bpm"] in (90.0, 95.0, 100.0, 105.0) and name.endswith(f"-{meta['bpm']:g}bpm")
        assert abs(sf.info(str(out / f"{name}.wav")).frames - round(8 * 60 / meta["bpm"] * 16_000)) <= 1
        assert (name in index["heldout"]) == is_heldout(meta["song"])
    training, heldout = split_loop_folder(out)
    assert {p.stem for p, _ in heldout} == set(index["heldout"]) and len(training) + len(heldout) == 12
    # a file loops.json does not list is split by the name rule, whatever the list says
    import shutil

    for extra in ("extra-41-100bpm", "extra-00-100bpm"):  # the first is held out by its name, the second not
        shutil.copyfile(out / f"{names[0]}.wav", out / f"{extra}.wav")
    training, heldout = split_loop_folder(out)
    assert {p.stem for p, _ in heldout} == set(index["heldout"]) | {"extra-41-100bpm"}
    assert len(training) + len(heldout) == 14
