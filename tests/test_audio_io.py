from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.audio_io import audio_info, read_mono, resample, write_audio
from agent.errors import AntiphonError


def test_stereo_44k_becomes_mono_16k(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "x.wav", np.stack([left, right], axis=1), rate, subtype="FLOAT")
    mono, out_rate = read_mono(tmp_path / "x.wav", 16_000)
    assert out_rate == 16_000
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert abs(len(mono) - 16_000) <= 1
    expected = resample(((left + right) / 2).astype(np.float32), rate, 16_000)
    np.testing.assert_allclose(mono[1000:-1000], expected[1000:-1000], atol=1e-4)
    assert audio_info(tmp_path / "x.wav") == (rate, rate)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="nope.wav: no such file"):
        read_mono(tmp_path / "nope.wav")


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(range(200)))
    with pytest.raises(AntiphonError, match="bad.wav: cannot read audio"):
        read_mono(bad)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16_000)
    with pytest.raises(AntiphonError, match="no audio samples"):
        read_mono(tmp_path / "empty.wav")


def test_write_clips_instead_of_wrapping(tmp_path: Path) -> None:
    write_audio(tmp_path / "loud.flac", np.array([2.0, -2.0, 0.5], dtype=np.float32), 16_000)
    back, _ = read_mono(tmp_path / "loud.flac")
    assert back[0] > 0.99 and back[1] < -0.99 and abs(back[2] - 0.5) < 1e-3
