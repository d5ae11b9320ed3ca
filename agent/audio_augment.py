"""Audio augmentation: a seeded random chain of gain, EQ, room and noise, for training data that
sounds like more than one studio (a performer's microphone, a hall, a noisy stage).

Used by the encoder's pretraining (the encoder hears an augmented crop and predicts the clean
crop's quantized features), by corpus building (``--augment-source``: the performer side of a
training corpus is heard through a random room and microphone, the answer grains stay clean) and
by evaluation (``--augment-performer``: the held-out performers heard that way, to measure how
much of the listening survives it). Every draw comes from the generator passed in, so a seed gives
the same chain.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import fftconvolve, lfilter

from agent.errors import AntiphonError


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random chain; each stage is applied with its own probability."""

    gain_db_min: float = -12.0
    gain_db_max: float = 6.0
    eq_prob: float = 0.8
    eq_bands_max: int = 3  # peaking or shelving biquads, 1..eq_bands_max of them
    eq_gain_db_max: float = 9.0  # each band boosts or cuts up to this
    reverb_prob: float = 0.5
    reverb_rt60_s_min: float = 0.2
    reverb_rt60_s_max: float = 1.6
    reverb_wet_max: float = 0.6  # share of the reverberated signal in the mix
    noise_prob: float = 0.5
    noise_snr_db_min: float = 15.0
    noise_snr_db_max: float = 45.0

    def __post_init__(self) -> None:
        for name in ("eq_prob", "reverb_prob", "noise_prob", "reverb_wet_max"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AntiphonError(f"augment {name} must be between 0 and 1, got {getattr(self, name)}")
        pairs = (("gain_db_min", "gain_db_max"), ("reverb_rt60_s_min", "reverb_rt60_s_max"), ("noise_snr_db_min", "noise_snr_db_max"))
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise AntiphonError(f"augment {low} ({getattr(self, low)}) is above {high} ({getattr(self, high)})")
        if self.reverb_rt60_s_min <= 0.0 or self.reverb_rt60_s_max > 5.0:
            raise AntiphonError(f"augment reverb times must be in (0, 5] s, got {self.reverb_rt60_s_min}..{self.reverb_rt60_s_max}")
        if not 1 <= self.eq_bands_max <= 8 or not 0.0 <= self.eq_gain_db_max <= 24.0:
            raise AntiphonError("augment eq_bands_max must be 1..8 and eq_gain_db_max 0..24 dB")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AugmentConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise AntiphonError(f"unknown augment setting(s): {sorted(unknown)}")
        return cls(**data)


def piece_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for one named piece: the same chain for a piece whatever order pieces come in."""
    if seed < 0:
        raise AntiphonError(f"an augmentation seed must be 0 or more, got {seed}")
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _biquad(kind: str, f0_hz: float, gain_db: float, q: float, rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook peaking / low-shelf / high-shelf coefficients (b, a), normalised."""
    a_lin = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f0_hz / rate_hz
    cos_w, sin_w = np.cos(w0), np.sin(w0)
    alpha = sin_w / (2.0 * q)
    if kind == "peak":
        b = [1 + alpha * a_lin, -2 * cos_w, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cos_w, 1 - alpha / a_lin]
    else:
        sq = 2.0 * np.sqrt(a_lin) * alpha
        sign = 1.0 if kind == "low" else -1.0
        b = [a_lin * ((a_lin + 1) - sign * (a_lin - 1) * cos_w + sq),
             sign * 2 * a_lin * ((a_lin - 1) - sign * (a_lin + 1) * cos_w),
             a_lin * ((a_lin + 1) - sign * (a_lin - 1) * cos_w - sq)]
        a = [(a_lin + 1) + sign * (a_lin - 1) * cos_w + sq,
             -sign * 2 * ((a_lin - 1) + sign * (a_lin + 1) * cos_w),
             (a_lin + 1) + sign * (a_lin - 1) * cos_w - sq]
    b_arr, a_arr = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
    return b_arr / a_arr[0], a_arr / a_arr[0]


def room_response(rt60_s: float, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: exponentially decaying noise (-60 dB at ``rt60_s``), darker as it decays,
    with a direct path at 0; unit energy."""
    n = max(int(rt60_s * rate_hz), 16)
    t = np.arange(n) / rate_hz
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)
    tail = lfilter([0.5, 0.5], [1.0], tail)  # a gentle low-pass: walls absorb the highs
    tail[0] = 0.0
    ir = np.concatenate([[1.0], np.zeros(max(int(0.005 * rate_hz), 1)), tail[1:]])
    return ir / np.sqrt(np.sum(ir * ir))


def augment(x: np.ndarray, rate_hz: int, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random chain applied to a mono signal; same length, float32. Silence stays silence
    (the noise is scaled to the signal's own level). With the default probabilities about 5 % of
    the chains draw none of EQ, room and noise (gain only, which normalisation undoes)."""
    if x.ndim != 1:
        raise AntiphonError(f"augment takes a mono signal, got shape {x.shape}")
    y = np.asarray(x, dtype=np.float64)
    if rng.random() < config.eq_prob:
        for _ in range(int(rng.integers(1, config.eq_bands_max + 1))):
            kind = str(rng.choice(["peak", "low", "high"]))
            f0 = float(np.exp(rng.uniform(np.log(80.0), np.log(min(7000.0, 0.4 * rate_hz)))))
            b, a = _biquad(kind, f0, float(rng.uniform(-config.eq_gain_db_max, config.eq_gain_db_max)), float(rng.uniform(0.5, 2.0)), rate_hz)
            y = lfilter(b, a, y)
    if rng.random() < config.reverb_prob:
        ir = room_response(float(rng.uniform(config.reverb_rt60_s_min, config.reverb_rt60_s_max)), rate_hz, rng)
        wet = float(rng.uniform(0.1, config.reverb_wet_max))
        y = (1.0 - wet) * y + wet * fftconvolve(y, ir)[: len(y)]
    if rng.random() < config.noise_prob:
        level = float(np.sqrt(np.mean(y * y)))
        if level > 0.0:
            noise = rng.standard_normal(len(y))
            if rng.random() < 0.5:  # pinkish: a one-pole low-pass of white noise
                noise = lfilter([1.0], [1.0, -0.95], noise)
                noise /= max(float(np.sqrt(np.mean(noise * noise))), 1e-12)
            snr_db = float(rng.uniform(config.noise_snr_db_min, config.noise_snr_db_max))
            y = y + noise * level * 10.0 ** (-snr_db / 20.0)
    y = y * 10.0 ** (float(rng.uniform(config.gain_db_min, config.gain_db_max)) / 20.0)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 1.0:  # a microphone preamp would clip; keep the shape and stay in range instead
        y = y / peak
    return y.astype(np.float32)
