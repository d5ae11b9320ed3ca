"""The note harmoniser: its features, its transposition equivariance, its training on real files, its
folder's checks, and performer mode naming chords with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.arranger.bars import REST
from agent.arranger.note_harmoniser import NoteHarmoniser, load_note_harmoniser, save_note_harmoniser, segment_features
from agent.arranger.note_harmoniser_config import NoteHarmoniserConfig
from agent.arranger.songs import chord_class
from agent.errors import AntiphonError


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "-q", *args], capture_output=True, text=True, timeout=timeout)


def test_segment_features_count_pitch_classes_on_all_and_strong_steps() -> None:
    melody = np.full(20, REST)
    melody[0], melody[1], melody[2], melody[4] = 60, 64, 64, 79  # C on beat 1, E twice, G on beat 2 (an octave apart does not matter)
    f = segment_features(melody, 8)
    assert f.shape == (2, 2, 12)  # 20 steps: two whole segments of 8, the last 4 steps dropped
    np.testing.assert_allclose(f[0, 0, [0, 4, 7]], [0.25, 0.5, 0.25])
    np.testing.assert_allclose(f[0, 1, [0, 7]], [0.5, 0.5])  # strong steps 0 and 4
    assert f[0, 1, 4] == 0 and not f[1].any()  # E is off the beat; the second segment rests


def test_a_transposed_melody_gets_transposed_chords() -> None:
    """Equivariance by construction: up k semitones in, every chord root up k out (quality kept)."""
    torch.manual_seed(0)
    model = NoteHarmoniser(NoteHarmoniserConfig(width=16)).eval()
    rng = np.random.default_rng(0)
    melody = rng.integers(55, 80, 64)
    melody[rng.random(64) < 0.3] = REST
    with torch.no_grad():
        base = model(torch.from_numpy(segment_features(melody, 8))[None])[0].argmax(-1).numpy()
        for k in (1, 5, 11):
            moved = model(torch.from_numpy(segment_features(np.where(melody == REST, REST, melody + k), 8))[None])[0].argmax(-1).numpy()
            assert np.array_equal(moved // 12, base // 12) and np.array_equal(moved % 12, (base % 12 + k) % 12), (k, base, moved)


def test_training_on_the_fake_songs_names_their_chords(fake_song_set: Path, tmp_path: Path) -> None:
    """Trained from the command line on the fake songs (a chord tone per beat, one chord per bar), it
    names the held-out songs' chords from their true melodies far above chance (1 in 24)."""
    out = tmp_path / "notes"
    result = run("train-note-harmoniser", "--song-set", str(fake_song_set), "--out", str(out), "--epochs", "40", "--lr", "0.01", "--width", "32")
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["heldout_accuracy_true_melody"] > 0.35, meta["training"]  # 8x chance
    assert (out / "loss.png").stat().st_size > 5_000 and "Rebuild" in (out / "README.md").read_text()
    bundle = load_note_harmoniser(out)
    assert bundle.config == NoteHarmoniserConfig(width=32)
    again = run("train-note-harmoniser", "--song-set", str(fake_song_set), "--out", str(out), "--epochs", "1")
    assert again.returncode != 0 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_a_broken_or_foreign_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    save_note_harmoniser(folder, NoteHarmoniser(NoteHarmoniserConfig(width=8)), {"note": "test"})
    assert load_note_harmoniser(folder).config.width == 8
    with pytest.raises(AntiphonError, match="does not exist"):
        load_note_harmoniser(tmp_path / "missing")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model": {"segment_steps": 5, "width": 8}}))
    with pytest.raises(AntiphonError, match="segment_steps must be 4, 8 or 16"):
        load_note_harmoniser(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(AntiphonError, match="checksum does not match config.json"):
        load_note_harmoniser(folder)
    (folder / "config.json").write_text(json.dumps({**config, "format": "antiphon-texture-model"}))
    with pytest.raises(AntiphonError, match="not an Antiphon note harmoniser"):
        load_note_harmoniser(folder)


def test_performer_mode_names_a_chord_per_half_bar_from_the_melody(fake_song_set: Path, tmp_path: Path) -> None:
    """A held-out fake melody arranged in performer mode with the shipped models: the chords come
    from the note harmoniser (recorded in arrangement.json), constant over each half bar."""
    score = json.loads((fake_song_set / "006" / "score.json").read_text())
    tempo = str(round(60.0 / float(np.median(np.diff(score["beats"]))), 2))
    melody = str(fake_song_set / "006" / "melody.flac")
    result = run("arrange", "--mode", "performer", "--input", melody, "--out", str(tmp_path / "notes"), "--tempo-bpm", tempo)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "notes" / "arrangement.json").read_text())
    assert report["models"]["note_harmoniser"].endswith("pop909-note-harmoniser") and report["bars"] >= 5
    per_beat = [[chord_class(c) for c in bar] for bar in report["bar_chords"]]
    assert all(bar[0] == bar[1] and bar[2] == bar[3] for bar in per_beat), per_beat
    frames = run("arrange", "--mode", "performer", "--input", melody, "--out", str(tmp_path / "frames"), "--tempo-bpm", tempo, "--note-harmoniser", "none")
    assert frames.returncode == 0, frames.stderr  # the frame harmoniser's own chords
    assert json.loads((tmp_path / "frames" / "arrangement.json").read_text())["models"]["note_harmoniser"] is None
    song_mode = run("arrange", "--mode", "song", "--input", str(fake_song_set / "006" / "mix.flac"), "--out", str(tmp_path / "y"),
                    "--note-harmoniser", str(tmp_path))
    assert song_mode.returncode != 0 and "performer mode only" in song_mode.stderr
    live = run("arrange", "--live", "--mode", "performer", "--input", str(fake_song_set / "006" / "melody.flac"), "--out", str(tmp_path / "z"),
               "--note-harmoniser", str(tmp_path / "notes"))  # live, only "none" (what the live agent does) is accepted
    assert live.returncode != 0 and "offline arranger" in live.stderr


def test_harmonise_bars_names_each_half_bar_from_the_joined_melody(tmp_path: Path) -> None:
    """harmonise_bars gives each bar the chords harmonise names for its steps of the joined melody."""
    from agent.arranger.bars import Bar

    torch.manual_seed(1)
    folder = tmp_path / "h"
    save_note_harmoniser(folder, NoteHarmoniser(NoteHarmoniserConfig(width=16)), {})
    bundle = load_note_harmoniser(folder)
    rng = np.random.default_rng(3)
    bars = [Bar(chords=np.zeros(16, dtype=np.int64), melody_pitch=rng.integers(60, 72, 16), melody_onset=np.ones(16, dtype=bool)) for _ in range(3)]
    named = bundle.harmonise_bars(bars)
    joined = bundle.harmonise(np.concatenate([b.melody_pitch for b in bars]))
    assert np.array_equal(np.concatenate([b.chords for b in named]), joined) and (joined >= 1).all() and (joined <= 24).all()
    assert all(len(set(joined[k : k + 8])) == 1 for k in range(0, 48, 8))  # one chord per half bar
    assert bundle.harmonise(np.array([60, 64, 67])).tolist() == [0, 0, 0]  # shorter than a segment: nothing named


def test_performer_mode_takes_its_chords_from_the_note_harmoniser(fake_song_set: Path) -> None:
    """hear() in performer mode hands its bars (with the transcribed melody) to the note harmoniser
    and keeps what it names; without one, the chords model's frames name them."""
    from dataclasses import replace

    from agent.arranger.arrange import ArrangeConfig, ArrangerModels, hear
    from agent.audio_io import read_mono

    class Marking:
        def __init__(self) -> None:
            self.seen: list = []

        def harmonise_bars(self, bars: list) -> list:
            self.seen = bars
            return [replace(b, chords=np.full(16, 24)) for b in bars]  # B minor: no chord of the song (in D flat)

    models = ArrangerModels.load("performer")
    score = json.loads((fake_song_set / "006" / "score.json").read_text())
    config = ArrangeConfig(mode="performer", tempo_bpm=round(60.0 / float(np.median(np.diff(score["beats"]))), 2))
    audio, rate = read_mono(fake_song_set / "006" / "melody.flac", rate_hz=models.chords.features.sample_rate_hz)
    marking = Marking()
    heard = hear(audio, rate, replace(models, note_harmoniser=marking), config)
    assert heard.bars and all((b.chords == 24).all() for b in heard.bars)
    assert sum(int((b.melody_pitch > 0).sum()) for b in marking.seen) > 8 * len(heard.bars)  # it was given the melody
    frames = hear(audio, rate, replace(models, note_harmoniser=None), config)
    assert not any((b.chords == 24).all() for b in frames.bars) and any((b.chords > 0).any() for b in frames.bars)
