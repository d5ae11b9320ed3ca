"""What the chord recogniser hears: a constant-Q spectrum per frame (librosa), made loudness-free.

Per frame: the log magnitude of each semitone bin relative to the frame's loudest bin (clipped at
``floor_db``), scaled to [-1, 0], and the frame's loudness (its loudest bin in dB / 60). A
transposition moves the first part along the bins, which training uses as augmentation.

The constant-Q filters are centred on the frame, so a frame is known about half the longest
filter after its time (``lookahead_s``): the live arranger counts that as perception latency.
Spectra of files are cached (keyed by the file's path, size, modification time and the config).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agent import paths
from agent.arranger.frame_config import SpectrumConfig
from agent.audio_io import read_mono
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

FEATURES_VERSION = 1


FILTER_BANKS_KEPT = 64


def memoise_cqt_filters() -> None:
    """Keep the constant-Q filter banks librosa builds: it builds them anew on every call, about
    70 % of the cost of a short stretch of audio (what the live arranger computes every chunk).
    Keyed by the bank's arguments; librosa rescales the bank it gets in place, so every call gets a
    copy. Done once; if librosa no longer has that (private) function, nothing changes."""
    import librosa.core.constantq as constantq

    build = getattr(constantq, "__vqt_filter_fft", None)
    if build is None or getattr(build, "antiphon_memoised", False):
        return
    banks: dict[tuple, tuple] = {}
    signature = inspect.signature(build)

    def memoised(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return build(*args, **kwargs)  # called in a way this wrapper does not know: as librosa would
        bound.apply_defaults()
        key = tuple((name, np.asarray(value).tobytes() if isinstance(value, np.ndarray) else value) for name, value in bound.arguments.items())
        try:
            hash(key)
        except TypeError:
            return build(*args, **kwargs)  # e.g. a window given as an array: not kept
        if key not in banks:
            if len(banks) >= FILTER_BANKS_KEPT:
                banks.clear()
            banks[key] = build(*args, **kwargs)
        kept = banks[key]
        if isinstance(kept, tuple):
            return tuple(item.copy() if hasattr(item, "copy") else item for item in kept)
        return kept.copy() if hasattr(kept, "copy") else kept

    memoised.antiphon_memoised = True
    setattr(constantq, "__vqt_filter_fft", memoised)


def spectrum(audio: np.ndarray, config: SpectrumConfig) -> np.ndarray:
    """Features [T, bins + 1] float32 of mono audio at ``config.sample_rate_hz`` (frame t at t x hop)."""
    import librosa

    memoise_cqt_filters()

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AntiphonError(f"chord features need mono audio, got shape {audio.shape}")
    if len(audio) < config.hop_samples:
        raise AntiphonError(f"audio of {len(audio) / config.sample_rate_hz:.2f} s is too short for chord recognition (at least {config.frame_s:.2f} s)")
    magnitude = np.abs(librosa.cqt(audio, sr=config.sample_rate_hz, hop_length=config.hop_samples, fmin=float(librosa.midi_to_hz(config.fmin_midi)),
                                   n_bins=config.bins, bins_per_octave=12)).T
    return normalise(magnitude, config)


def normalise(magnitude: np.ndarray, config: SpectrumConfig) -> np.ndarray:
    """[T, bins] magnitudes -> [T, bins + 1] loudness-free features (see the module's docstring)."""
    db = 20.0 * np.log10(np.maximum(magnitude, 1e-6))
    loudest = db.max(axis=1, keepdims=True)
    relative = np.clip(db - loudest, config.floor_db, 0.0) / -config.floor_db
    return np.concatenate([relative, loudest / 60.0], axis=1).astype(np.float32)


def lookahead_s(config: SpectrumConfig) -> float:
    """Half the longest constant-Q filter (librosa's own lengths): how far a frame looks ahead."""
    import librosa

    freqs = librosa.midi_to_hz(config.fmin_midi + np.arange(config.bins))
    lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=config.sample_rate_hz)
    return 0.5 * float(np.max(lengths)) / config.sample_rate_hz


def transpose_features(features: np.ndarray, shift: int, config: SpectrumConfig) -> np.ndarray:
    """The spectrum moved up ``shift`` semitones (bins pushed off the edge are lost, new ones at the floor)."""
    if shift == 0:
        return features
    out = features.copy()
    bins = config.bins
    out[:, :bins] = -1.0
    if shift > 0:
        out[:, shift:bins] = features[:, : bins - shift]
    else:
        out[:, : bins + shift] = features[:, -shift:bins]
    return out


def file_features(path: Path, config: SpectrumConfig) -> np.ndarray:
    """Features of an audio file (read mono at the config's rate, resampled if needed), cached."""
    path = Path(path)
    if not path.is_file():
        raise AntiphonError(f"audio file {path} does not exist")
    stat = path.stat()
    facts = {"version": FEATURES_VERSION, "path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "config": asdict(config)}
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]
    cached = paths.cache_dir() / "chord-features" / f"{key}.npy"
    if cached.is_file():
        try:
            features = np.load(cached, allow_pickle=False)
            if features.ndim == 2 and features.shape[1] == config.dim and features.dtype == np.float32:
                return features
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable feature cache %s (%s)", cached, exc)
    audio, _ = read_mono(path, rate_hz=config.sample_rate_hz)
    features = spectrum(audio, config)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".npy")
        with os.fdopen(handle, "wb") as out:
            np.save(out, features, allow_pickle=False)
        os.replace(tmp, cached)
    except OSError as exc:
        log.warning("could not cache chord features in %s (%s)", cached.parent, exc)
    return features


def frame_times(count: int, config: SpectrumConfig) -> np.ndarray:
    return np.arange(count) * config.frame_s
