"""The next-bar chord forecast: learned from bar chords, key-free, saved and read back, bad files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.arranger.chord_forecast import ChordForecast, absolute, bar_chords, forecast_accuracy, relative
from agent.arranger.songs import chord_class
from agent.errors import AntiphonError

C, F, G, AM = (chord_class(x) for x in ("C:maj", "F:maj", "G:maj", "A:min"))


def loop(chords: list[int], bars: int, shift: int = 0) -> list[int]:
    return [absolute(chords[i % len(chords)], shift) for i in range(bars)]


def test_the_forecast_learns_a_looping_progression_in_any_key(tmp_path: Path) -> None:
    songs = [loop([C, AM, F, G], 24, shift) for shift in (0, 2, 5)]
    forecast = ChordForecast.fit(songs)
    heldout = [loop([C, AM, F, G], 24, 7)]  # a key it never saw
    scores = forecast_accuracy(forecast, heldout)
    assert scores["forecast"] == 1.0 and scores["the bar before"] == 0.0, scores
    assert forecast.predict([C, AM]) == AM  # under 8 bars: the bar now is played on
    assert relative(absolute(G, 3), 3) == G
    forecast.save(tmp_path / "f", {"note": "test"})
    again = ChordForecast.load(tmp_path / "f")
    assert again.table == forecast.table and again.predict(heldout[0][:12]) == heldout[0][12]


def test_bar_chords_of_a_score_and_bad_folders(tmp_path: Path) -> None:
    score = {"beats": [0, 1, 2, 3, 4, 5, 6, 7, 8], "downbeats": [1, 0, 0, 0, 1, 0, 0, 0, 1],
             "chords": [[0.0, 3.5, "C:maj"], [3.5, 8.0, "G:7"]]}
    assert bar_chords(score) == [C, G]  # the class most of each bar carries
    with pytest.raises(AntiphonError):
        ChordForecast.load(tmp_path / "no-forecast-here")


def test_a_corrupt_forecast_file_is_refused(tmp_path: Path) -> None:
    ChordForecast.fit([loop([C, F, G, C], 16)]).save(tmp_path / "f", {})
    np.savez(tmp_path / "f" / "forecast.npz", contexts=np.full((2, 3), 99), answers=np.zeros(2, dtype=np.int64))
    with pytest.raises(AntiphonError, match="do not fit"):
        ChordForecast.load(tmp_path / "f")
    (tmp_path / "f" / "forecast.npz").write_bytes(b"not a zip")
    with pytest.raises(AntiphonError, match="cannot read"):
        ChordForecast.load(tmp_path / "f")


def test_fit_chord_forecast_from_the_command_line(fake_song_set: Path, tmp_path: Path) -> None:
    """Fitted on the fake song set's 10 training songs and scored on its held-out ones (8-bar songs: no
    bar has a phrase of history, so none is scored); a missing song set is refused in one line, nothing written."""
    import json
    import subprocess
    import sys

    out = tmp_path / "forecast"
    done = subprocess.run([sys.executable, "-m", "agent", "-q", "fit-chord-forecast", "--song-set", str(fake_song_set), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "config.json").read_text())
    assert meta["fit_songs"] == 10 and meta["heldout_accuracy"]["bars"] == 0, meta
    assert "| forecast |" in done.stdout and (out / "README.md").is_file()
    ChordForecast.load(out)
    bad = subprocess.run([sys.executable, "-m", "agent", "-q", "fit-chord-forecast", "--song-set", str(tmp_path / "none"), "--out", str(tmp_path / "f2")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "does not exist" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not (tmp_path / "f2").exists()
