"""Rendering a song set: the mix and the melody alone, the score on the rendered time line, the split, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.arranger.song_set import SongSetConfig, make_song_set, read_score
from agent.audio_io import read_mono
from agent.errors import AntiphonError


def test_renderings_hold_audio_and_the_moved_score(fake_song_set: Path) -> None:
    split = json.loads((fake_song_set / "split.json").read_text())
    assert split["heldout"] == ["006", "006@v1", "012", "012@v1"]  # every rendering of a held-out song
    plain, moved = read_score(fake_song_set / "001"), read_score(fake_song_set / "001@v1")
    assert plain["transpose_semitones"] == 0 and plain["time_scale"] == 1.0
    shift, scale = moved["transpose_semitones"], moved["time_scale"]
    assert (shift, scale) != (0, 1.0)
    np.testing.assert_allclose(np.array(moved["notes"]["piano"])[:, 2], np.array(plain["notes"]["piano"])[:, 2] + shift)
    np.testing.assert_allclose(moved["beats"], np.array(plain["beats"]) * scale, atol=2e-4)
    mix, rate = read_mono(fake_song_set / "001" / "mix.flac")
    melody, _ = read_mono(fake_song_set / "001" / "melody.flac")
    assert rate == 22_050 and len(mix) == len(melody) == int(round(plain["duration_s"] * rate))
    assert np.abs(mix).max() > 0.1 and np.abs(melody).max() > 0.1


def test_a_second_run_renders_nothing_and_bad_requests_are_refused(fake_pop909: Path, fake_song_set: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in fake_song_set.rglob("*.flac")}
    make_song_set(fake_pop909, fake_song_set, SongSetConfig(songs=12, variants=2), workers=1)
    assert {p: p.stat().st_mtime_ns for p in fake_song_set.rglob("*.flac")} == before
    with pytest.raises(AntiphonError, match="does not exist"):
        make_song_set(tmp_path / "nowhere", tmp_path / "out", SongSetConfig(songs=1))
    with pytest.raises(AntiphonError, match="seconds must be 0"):
        SongSetConfig(seconds=3.0)


def test_make_song_set_from_the_command_line(fake_pop909: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "set"
    result = subprocess.run([sys.executable, "-m", "agent", "-q", "make-song-set", "--pop909", str(fake_pop909), "--out", str(out), "--songs", "2",
                             "--seconds", "10", "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["001", "002"]
    score = read_score(out / "001")
    assert score["duration_s"] == pytest.approx(11.0) and max(a for a, _, _ in score["chords"]) < 10.0
    bad = subprocess.run([sys.executable, "-m", "agent", "-q", "make-song-set", "--pop909", str(fake_pop909), "--out", str(tmp_path / "x"), "--workers", "-2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "is negative" in bad.stderr and not (tmp_path / "x").exists()
