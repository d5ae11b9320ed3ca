"""What the live arranger hears and plays, piece by piece: the streaming spectrum (against the
offline one), the beat follower on known activations, the synthesiser's note time line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent import paths
from agent.arranger.beat_follow import BeatFollower
from agent.arranger.frame_checkpoint import load_frame_model
from agent.arranger.note_synth import NoteSynth
from agent.arranger.spectrum import spectrum
from agent.arranger.stream_hearing import StreamingSpectrum
from agent.audio_io import read_mono
from agent.errors import AntiphonError
from tests.arranger.progression import render_progression


@pytest.fixture(scope="module")
def progression(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_progression(tmp_path_factory.mktemp("live-arranger") / "cfgc.wav")


def test_streaming_spectrum_equals_the_offline_one(progression: Path) -> None:
    config = load_frame_model(paths.MODELS_DIR / "pop909-beats").features
    audio, _ = read_mono(progression, rate_hz=config.sample_rate_hz)
    audio = audio[: 10 * config.sample_rate_hz]
    offline = spectrum(audio, config)
    stream = StreamingSpectrum(config)
    parts, first_frames = [], []
    for start in range(0, len(audio), 1000):  # blocks unrelated to the hop
        first, features = stream.push(audio[start : start + 1000])
        if len(features):
            first_frames.append(first)
            parts.append(features)
    online = np.concatenate(parts)
    assert first_frames == list(np.cumsum([0] + [len(p) for p in parts[:-1]]))  # no frame skipped or repeated
    assert len(online) >= len(offline) - int(np.ceil(stream.latency_s / config.frame_s)) - 1
    assert np.abs(online - offline[: len(online)]).max() < 0.01


def test_the_beat_follower_finds_tempo_phase_and_downbeat() -> None:
    frame_s = 1024 / 22_050
    follower = BeatFollower(frame_s)
    times = np.arange(int(10 / frame_s)) * frame_s
    probs = np.zeros((len(times), 3))
    probs[:, 0] = 1.0
    period = 0.5  # 120 bpm, the first beat at 0.2 s; downbeats every 4th beat
    for k, t in enumerate(np.arange(0.2, times[-1], period)):
        i = int(round(t / frame_s))
        probs[i] = (0.0, 0.1, 0.9) if k % 4 == 0 else (0.0, 0.9, 0.1)
    assert follower.grid() is None  # nothing heard yet
    follower.push(probs)
    grid = follower.grid()
    assert grid is not None and grid.bpm == pytest.approx(120.0, abs=1.5)
    beats = 0.2 + period * np.arange(40)
    assert np.min(np.abs(beats - grid.last_beat_s)) < 1.5 * frame_s
    downbeat = grid.downbeat_after(12.0)
    assert np.min(np.abs(beats[::4] - downbeat)) < 2 * frame_s, downbeat
    fixed = follower.grid(bpm=90.0)
    assert fixed.period_s == pytest.approx(60 / 90.0)
    flat = BeatFollower(frame_s)
    flat.push(np.tile([1.0, 0.0, 0.0], (len(times), 1)))
    assert flat.grid() is None  # no periodicity: no tempo


def test_the_synth_renders_notes_in_order_and_their_tails() -> None:
    synth = NoteSynth(paths.default_soundfont(), 48_000)
    first = synth.render_until(24_000, np.array([[12_000, 18_000, 60, 100]]))
    assert np.abs(first[:11_900]).max() < 1e-4 and np.abs(first[12_000:18_000]).max() > 0.01  # before the note: dither only
    tail = synth.render_until(48_000)  # the note's release goes on into the next call, then dies away
    assert len(tail) == 24_000 and np.abs(tail[-1000:]).max() < np.abs(first[12_000:18_000]).max() / 100
    with pytest.raises(AntiphonError, match="program"):
        NoteSynth(paths.default_soundfont(), 48_000, program=128)
