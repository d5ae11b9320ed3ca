"""`antiphon arrange` with the shipped models: a rendered song in, notes and files out; bad input refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from agent.arranger.songs import chord_class


def arrange(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "-q", "arrange", *args], capture_output=True, text=True, timeout=600)


def test_a_rendered_song_is_arranged_on_its_chords(fake_song_set: Path, tmp_path: Path) -> None:
    """A held-out fake song (block chords on every beat, a melody of chord tones): the arrangement
    has its bars, its recognised chords are the song's, and most of its notes sound in them."""
    out = tmp_path / "arranged"
    result = arrange("--input", str(fake_song_set / "006" / "mix.flac"), "--out", str(out), "--seed", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "arrangement.json").read_text())
    score = json.loads((fake_song_set / "006" / "score.json").read_text())
    assert 6 <= report["bars"] <= 8 and report["notes"] > 20
    assert abs(report["tempo_bpm"] - 60.0 / np.median(np.diff(score["beats"]))) < 3.0
    true = [chord_class(c) for _, _, c in score["chords"]]
    named = [chord_class(bar[0]) for bar in report["bar_chords"]]
    assert sum(n in true for n in named) >= len(named) - 1, (named, true)
    notes = [m for m in mido.MidiFile(str(out / "arrangement.mid")).tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(notes) == report["notes"]
    rendered, rate = sf.read(out / "arrangement.wav")
    assert rate == 22_050 and np.abs(rendered).max() > 0.05
    assert (out / "mix.wav").is_file() and (out / "arrangement.png").stat().st_size > 10_000


def test_bad_input_gets_one_line(tmp_path: Path) -> None:
    rate = 22_050
    sf.write(tmp_path / "silence.wav", np.zeros(rate * 10, np.float32), rate)
    sf.write(tmp_path / "short.wav", 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32), rate)
    drone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(rate * 10) / rate).astype(np.float32)  # one held tone: no beat to find
    sf.write(tmp_path / "drone.wav", drone, rate)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVE")
    for live in ((), ("--live",)):  # offline, and the live agent rehearsed on the file
        for name, message in (("silence.wav", "the input is silent"), ("short.wav", "the arranger needs at least 4 s"), ("drone.wav", "no beat found"),
                              ("broken.wav", "cannot read audio"), ("missing.wav", "does not exist")):
            result = arrange("--input", str(tmp_path / name), "--out", str(tmp_path / "out"), *live)
            assert result.returncode != 0 and message in result.stderr, (name, live, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert not (tmp_path / "out").exists()  # nothing written
    result = arrange("--input", str(tmp_path / "drone.wav"), "--out", str(tmp_path / "out"), "--tempo-bpm", "500")
    assert result.returncode != 0 and "tempo_bpm must be 0 (follow) or 30..300" in result.stderr


def test_the_live_arranger_rehearsed_on_a_song_writes_its_bars_and_notes(fake_song_set: Path, tmp_path: Path) -> None:
    """`arrange --live`: the live agent on the fake song's mix at its tempo: bars decided ahead on the
    song's bar lines, the notes it announced in the MIDI file and sounding in the rendering."""
    out = tmp_path / "live"
    score = json.loads((fake_song_set / "006" / "score.json").read_text())
    bpm = 60.0 / float(np.median(np.diff(score["beats"])))
    result = arrange("--input", str(fake_song_set / "006" / "mix.flac"), "--out", str(out), "--live", "--tempo-bpm", f"{bpm:.3f}")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "arrangement.json").read_text())
    bars = report["bars"]
    assert len(bars) >= 2 and all(b["decided_ahead_ms"] >= 400 for b in bars), bars
    downbeats = np.asarray(score["beats"])[np.asarray(score["downbeats"], bool)]
    assert all(np.min(np.abs(downbeats - b["start_s"])) < 0.1 for b in bars[:-1]), (bars, downbeats)
    notes = [m for m in mido.MidiFile(str(out / "arrangement.mid")).tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(notes) == report["notes"] > 0
    rendered, rate = sf.read(out / "arrangement.wav")
    assert rate == 48_000 and np.abs(rendered).max() > 0.05 and (out / "mix.wav").is_file()


def test_evaluate_arranger_scores_the_held_out_fake_songs(fake_song_set: Path, tmp_path: Path) -> None:
    """The whole arranger from the fake songs' mixes: the true part lays back on its own bars
    exactly (chord fit of its block chords 1.0, its ratios 1.0), and every row is scored."""
    result = subprocess.run([sys.executable, "-m", "agent", "-q", "evaluate-arranger", "--song-set", str(fake_song_set), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "arranger-song.json").read_text())
    true = report["figures"]["true piano"]
    assert true["chord_fit_full"] == 1.0 and true["onsets_ratio_to_true"] == 1.0 and true["bars"] > 10
    assert {"arranger", "block triads (recognised chords)", "random bar (recognised chords)"} <= set(report["figures"])
    assert all(f["bars"] == true["bars"] for f in report["figures"].values())  # every row on the same true bars of the songs arranged
    assert report["figures"]["block triads (recognised chords)"]["chord_fit_triad"] > 0.8  # the chords were recognised
    oracle = report["figures"]["arranger on the true chords (oracle)"]  # told the true chord at each heard step
    assert oracle["chord_fit_triad"] > 0.8 and "random bar on the true chords (oracle)" in report["texture_similarity_oracle_arranger_minus"]
    assert "chord_fit_full_at_least_0.85" in report["checks"]  # song mode's bar
    assert report["recognised_chord_step_accuracy"] > 0.6 and report["chords_named_by"] == "the chords model"
    bad = subprocess.run([sys.executable, "-m", "agent", "-q", "evaluate-arranger", "--song-set", str(fake_song_set), "--out", str(tmp_path / "x"),
                          "--songs", "-1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "is negative" in bad.stderr


def test_the_oracle_bars_carry_the_true_chord_at_each_step_middle() -> None:
    from agent.arranger.arranger_eval import with_true_chords
    from agent.arranger.bars import Bar
    from agent.arranger.songs import Song

    song = Song(name="s", notes={}, beats=np.arange(5.0), downbeats=np.array([True, False, False, False, False]),
                chords=[(0.0, 1.9, "C:maj"), (1.9, 4.0, "A:min")])
    heard = Bar(chords=np.full(16, 5), melody_pitch=np.zeros(16, dtype=np.int64), melody_onset=np.zeros(16, dtype=bool), step_times_s=np.linspace(0, 4, 17))
    told = with_true_chords([heard], song)[0]
    assert told.chords.tolist() == [1] * 8 + [13 + 9] * 8  # step 7 (1.75..2.0 s, middle 1.875 s) is still C; step 8 is A minor
    assert heard.chords.tolist() == [5] * 16  # the heard bar is left as it was
