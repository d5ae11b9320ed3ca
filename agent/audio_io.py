"""Reading, resampling and writing audio files.

Any sample rate and channel count comes in; callers get float32 mono at the rate they ask for,
resampled once with soxr.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from agent.errors import AntiphonError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
PERCEPTION_RATE_HZ = 16_000


def audio_info(path: Path) -> tuple[int, int]:
    """(sample rate in Hz, number of frames) of an audio file, without reading its samples."""
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AntiphonError(f"{path}: cannot read audio ({_one_line(exc)})") from exc
    return int(info.samplerate), int(info.frames)


def to_mono(frames: np.ndarray) -> np.ndarray:
    """[frames, channels] float32 -> mono (the mean of the channels)."""
    return frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]


def open_sound_file(path: Path | str) -> sf.SoundFile:
    """An audio file opened for reading block by block (one-line errors); the caller closes it."""
    _check_exists(Path(path))
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AntiphonError(f"{path}: cannot read audio ({_one_line(exc)})") from exc


def read_mono(path: Path, rate_hz: int | None = None) -> tuple[np.ndarray, int]:
    """Read a file as float32 mono; resample to ``rate_hz`` if given. Returns (samples, rate)."""
    _check_exists(path)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AntiphonError(f"{path}: cannot read audio ({_one_line(exc)})") from exc
    if data.shape[0] == 0:
        raise AntiphonError(f"{path}: the file holds no audio samples")
    mono = to_mono(data)
    if not np.all(np.isfinite(mono)):
        raise AntiphonError(f"{path}: audio holds NaN or infinite samples")
    if rate_hz is not None and rate_hz != file_rate:
        return resample(mono, int(file_rate), rate_hz), rate_hz
    return np.ascontiguousarray(mono, dtype=np.float32), int(file_rate)


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """High-quality resampling of a whole mono signal (float32 in, float32 out)."""
    if from_hz == to_hz:
        return np.ascontiguousarray(samples, dtype=np.float32)
    out = soxr.resample(np.asarray(samples, dtype=np.float32), from_hz, to_hz, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def write_audio(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    """Write float32 audio (mono or [n, channels]); FLAC/WAV chosen by the file extension.

    Samples are clipped to [-1, 1] before 16-bit formats so nothing wraps around.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    subtype = "PCM_16" if path.suffix.lower() in (".flac", ".wav") else None
    sf.write(str(path), data, rate_hz, subtype=subtype)


def _check_exists(path: Path) -> None:
    if not Path(path).exists():
        raise AntiphonError(f"{path}: no such file")
    if not Path(path).is_file():
        raise AntiphonError(f"{path}: not a file")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
