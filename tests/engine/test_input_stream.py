"""An input file streamed into the callback's ring: looped, resampled, mono, never read whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.audio_io import read_mono
from agent.engine import input_stream
from agent.engine.input_stream import InputStream
from agent.errors import AntiphonError


def drain(stream: InputStream, samples: int, step: int = 4_800) -> np.ndarray:
    """What the callback would take, ``step`` samples at a time, with the worker topping up in between."""
    out, played = [], 0
    while played < samples:
        n = min(step, samples - played, stream.written - played)
        assert n > 0, "the ring ran dry"
        idx = np.arange(played, played + n) % len(stream.ring)
        out.append(stream.ring[idx].copy())
        played += n
        stream.top_up(played)
    return np.concatenate(out)


def test_a_stereo_file_streams_as_mono_at_the_stream_rate_and_loops(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((22_050, 2))).astype(np.float32)  # 1 s at 22.05 kHz
    path = tmp_path / "take.wav"
    sf.write(path, stereo, 22_050, subtype="FLOAT")
    stream = InputStream(str(path), 48_000)
    assert stream.written >= int(input_stream.AHEAD_S * 48_000)  # filled before it is published
    got = drain(stream, 3 * 48_000)
    whole, _ = read_mono(path, 48_000)
    n = len(whole)
    # the first pass matches the whole-file resampling (edges aside); the file then starts again
    np.testing.assert_allclose(got[2_000 : n - 2_000], whole[2_000 : n - 2_000], atol=2e-3)
    np.testing.assert_allclose(got[n + 2_000 : 2 * n - 2_000], whole[2_000 : n - 2_000], atol=2e-3)
    assert stream.written - 3 * 48_000 <= len(stream.ring)
    stream.close()


def test_memory_is_the_ring_whatever_the_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.flac"
    sf.write(path, np.zeros(16_000 * 60, np.float32), 16_000)  # a minute
    reads = []
    original = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, frames=-1, **kw: reads.append(frames) or original(self, frames, **kw))
    stream = InputStream(str(path), 16_000)
    assert reads and max(reads) == int(input_stream.READ_S * 16_000)  # never the whole file
    assert stream.ring.nbytes == int(input_stream.RING_S * 16_000) * 4
    stream.close()


def test_unreadable_files_are_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AntiphonError, match="cannot read audio") as info:
        InputStream(str(bad), 48_000)
    assert "\n" not in str(info.value)
    with pytest.raises(AntiphonError):
        InputStream(str(tmp_path / "missing.wav"), 48_000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 48_000)
    with pytest.raises(AntiphonError, match="no samples"):
        InputStream(str(empty), 48_000)
