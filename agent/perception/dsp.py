"""DSP perception baseline: log-mel, MFCC and chroma statistics of a chunk (no learning)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.fft import dct

from agent.audio_io import PERCEPTION_RATE_HZ

FRAME = 512
HOP = 160
N_MELS = 40
N_MFCC = 13
FMIN_HZ = 30.0
FMAX_HZ = 8000.0
A4_HZ = 440.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """Triangular mel filters, [n_mels, n_fft // 2 + 1]."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin_hz)), _hz_to_mel(np.array(fmax_hz)), n_mels + 2))
    bank = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for m in range(n_mels):
        lo, centre, hi = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - lo) / (centre - lo)
        falling = (hi - freqs) / (hi - centre)
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    return bank


def chroma_map(rate_hz: int, n_fft: int) -> np.ndarray:
    """[12, n_fft // 2 + 1] map of FFT bins (55 Hz to 5 kHz) onto pitch classes (C = 0)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    out = np.zeros((12, len(freqs)), dtype=np.float32)
    valid = (freqs >= 55.0) & (freqs <= 5000.0)
    midi = 69.0 + 12.0 * np.log2(freqs[valid] / A4_HZ)
    out[np.round(midi).astype(int) % 12, np.nonzero(valid)[0]] = 1.0
    return out


class DspPerception:
    """Per chunk: mean and std of 40 log-mel bands and 13 MFCCs, mean chroma, log centroid, RMS dB."""

    name = "dsp"
    sample_rate_hz = PERCEPTION_RATE_HZ
    dim = 2 * N_MELS + 2 * N_MFCC + 12 + 2

    def __init__(self) -> None:
        self._window = np.hanning(FRAME).astype(np.float32)
        self._mel = mel_filterbank(self.sample_rate_hz, FRAME, N_MELS, FMIN_HZ, FMAX_HZ)
        self._chroma = chroma_map(self.sample_rate_hz, FRAME)
        self._freqs = np.fft.rfftfreq(FRAME, 1.0 / self.sample_rate_hz).astype(np.float32)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "dim": self.dim, "checkpoint": None, "checkpoint_sha256": None, "layer": None}

    def features(self, chunk: np.ndarray) -> np.ndarray:
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if len(x) < FRAME:
            x = np.pad(x, (0, FRAME - len(x)))
        n_frames = 1 + (len(x) - FRAME) // HOP
        idx = np.arange(FRAME)[None, :] + HOP * np.arange(n_frames)[:, None]
        power = np.abs(np.fft.rfft(x[idx] * self._window, axis=1)) ** 2  # [frames, bins]
        logmel = np.log(power @ self._mel.T + 1e-8)
        mfcc = dct(logmel, type=2, norm="ortho", axis=1)[:, :N_MFCC]
        chroma = power @ self._chroma.T
        chroma_mean = chroma.mean(axis=0)
        chroma_mean = chroma_mean / (chroma_mean.sum() + 1e-8)
        total = power.sum(axis=1) + 1e-12
        centroid = (power @ self._freqs) / total
        rms_db = 10.0 * np.log10(np.mean(x**2) + 1e-10)
        vec = np.concatenate(
            [
                logmel.mean(axis=0),
                logmel.std(axis=0),
                mfcc.mean(axis=0),
                mfcc.std(axis=0),
                chroma_mean,
                [np.log(centroid.mean() + 1.0), rms_db],
            ]
        )
        return vec.astype(np.float32)

    def features_batch(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        if len(chunks) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.features(c) for c in chunks])
