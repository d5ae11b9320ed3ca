"""Measures the loop generator is judged by (issue 16), apart from any model: how far a
reconstruction is from its original (multi-resolution STFT distance), how far two sets of loops
are in an embedding (Fréchet distance), and whether a loop wraps without a click.

- ``stft_distance``: the mean over FFT sizes 512, 1024 and 2048 (hop a quarter) of the spectral
  convergence ||S - S'||_F / ||S||_F plus the mean absolute difference of log magnitudes.
- ``frechet_distance``: ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) of the two sets'
  Gaussian fits (the FID / FAD formula).
- ``seam``: the loop heard twice in a row, its log spectrum in 10 ms frames; how much each frame
  stands out from its neighbours (the distance of its log spectrum to their mean). A click at the
  wrap makes the wrap's frame stand out more than any frame inside the loop: ``click_ratio`` is
  the wrap frame's figure over the largest inside the loop (onsets included), and above 1 it is
  heard as a click (a conservative test: a cut inside a busy drum loop can hide among its onsets).
  ``level_jump_db`` is the RMS level of the 20 ms after the wrap minus the 20 ms before it, and
  ``level_jump_mid_db`` the same across the loop's middle, a bar line like the wrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FFT_SIZES = (512, 1024, 2048)
SEAM_FRAME_S = 0.010
LEVEL_WINDOW_S = 0.020


def _magnitude(audio: np.ndarray, n_fft: int) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(np.asarray(audio, dtype=np.float32), n_fft=n_fft, hop_length=n_fft // 4, center=True))


def stft_distance(reference: np.ndarray, other: np.ndarray) -> float:
    """Multi-resolution STFT distance of ``other`` from ``reference`` (same length; 0 when equal)."""
    n = min(len(reference), len(other))
    total = 0.0
    for n_fft in FFT_SIZES:
        a, b = _magnitude(reference[:n], n_fft), _magnitude(other[:n], n_fft)
        convergence = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-8))
        log_distance = float(np.mean(np.abs(np.log(a + 1e-5) - np.log(b + 1e-5))))
        total += convergence + log_distance
    return total / len(FFT_SIZES)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussian fits of two embedding sets ([n, d] each, n > 1)."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))


@dataclass(frozen=True)
class Seam:
    click_ratio: float  # the wrap frame's standing-out over the largest inside the loop (> 1: a click)
    level_jump_db: float  # RMS level after the wrap minus before it (20 ms each)
    level_jump_mid_db: float  # the same across the loop's middle (a bar line of a 2- or 4-bar loop): what a wrap should resemble


def _standing_out(audio: np.ndarray, frame: int) -> np.ndarray:
    """Per frame of ``frame`` samples (no overlap), the RMS distance of its log spectrum to the mean
    of its two neighbours' (0 for the first and last frame)."""
    count = len(audio) // frame
    frames = audio[: count * frame].reshape(count, frame) * np.hanning(frame)
    spectra = np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-4)
    out = np.zeros(count)
    out[1:-1] = np.sqrt(np.mean((spectra[1:-1] - 0.5 * (spectra[:-2] + spectra[2:])) ** 2, axis=1))
    return out


def seam(audio: np.ndarray, rate_hz: int) -> Seam:
    """How a loop's wrap sounds (see the module's docstring); the loop must hold at least 8 frames."""
    audio = np.asarray(audio, dtype=np.float64)
    n = len(audio)
    frame = max(16, int(round(SEAM_FRAME_S * rate_hz)))
    if n < 8 * frame:
        raise ValueError(f"a loop of {n} samples is too short to judge its seam (at least {8 * frame})")
    k = n // 2
    rolled = np.roll(audio, k)  # the wrap (end, then start) now sits at sample k, inside the signal
    offset = (k - frame // 2) % frame  # the frame grid puts one frame's middle on the wrap
    scores = _standing_out(rolled[offset:], frame)
    wrap = (k - frame // 2 - offset) // frame
    inside = np.delete(scores[1:-1], [wrap - 2, wrap - 1, wrap])  # every other frame away from the wrap and the signal's ends
    floor = 0.05  # a log-spectrum distance below any audible change: keeps steady tones (all near 0) at a ratio near 1
    click_ratio = float((scores[wrap] + floor) / (float(np.max(inside)) + floor))
    window = max(1, int(round(LEVEL_WINDOW_S * rate_hz)))

    def level(x: np.ndarray) -> float:
        return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-9)

    return Seam(click_ratio=click_ratio, level_jump_db=level(audio[:window]) - level(audio[-window:]),
                level_jump_mid_db=level(audio[k : k + window]) - level(audio[k - window : k]))
