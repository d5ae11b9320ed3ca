"""What the listening metrics read off a signal: its pitch per frame (pYIN) and its onsets.

Both come from librosa: ``librosa.pyin`` (probabilistic YIN with HMM voicing) for the
fundamental frequency, ``librosa.onset.onset_detect`` (spectral flux, peak picking) for onsets.
The same analysis is applied to the performer and to the answer, so neither is favoured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from agent.errors import AntiphonError, require

ANALYSIS_RATE_HZ = 16_000


@dataclass(frozen=True)
class ListeningConfig:
    """How signals are analysed and compared (saved with every report that uses it)."""

    frame_hop_s: float = 0.02
    frame_length_s: float = 0.128
    fmin_hz: float = 50.0
    fmax_hz: float = 1600.0
    pitch_resolution_semitones: float = 0.25  # pYIN's pitch grid (librosa's default 0.1 is 10x slower, same intervals here)
    onset_window_s: float = 0.05
    consonant_interval_classes: tuple[int, ...] = (0, 3, 4, 7, 8, 9)

    def __post_init__(self) -> None:
        require(
            [
                (0.005 <= self.frame_hop_s <= 0.1, f"frame_hop_s must be 0.005..0.1, got {self.frame_hop_s}"),
                (self.frame_length_s >= 2 / self.fmin_hz, f"frame_length_s ({self.frame_length_s}) must hold two periods of fmin_hz ({self.fmin_hz})"),
                (20.0 <= self.fmin_hz < self.fmax_hz <= ANALYSIS_RATE_HZ / 4, "need 20 <= fmin_hz < fmax_hz <= 4000"),
                (0.01 <= self.pitch_resolution_semitones <= 0.5, f"pitch_resolution_semitones must be 0.01..0.5, got {self.pitch_resolution_semitones}"),
                (0.0 < self.onset_window_s <= 0.5, f"onset_window_s must be in (0, 0.5], got {self.onset_window_s}"),
                (all(0 <= c < 12 for c in self.consonant_interval_classes), "interval classes must be 0..11"),
            ],
            "listening config: ",
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Track:
    """A signal as the metrics see it: f0 per frame (NaN where unvoiced) and onset times."""

    f0_hz: np.ndarray  # float64 [frames]
    onsets_s: np.ndarray  # float64 [n], ascending
    frame_hop_s: float

    @property
    def voiced_share(self) -> float:
        return float(np.mean(np.isfinite(self.f0_hz))) if len(self.f0_hz) else 0.0


def analyse(signal: np.ndarray, rate_hz: int, config: ListeningConfig = ListeningConfig()) -> Track:
    """Pitch track and onsets of a mono signal at any rate (resampled to 16 kHz)."""
    import librosa

    from agent.audio_io import resample

    x = np.asarray(signal, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise AntiphonError("signal to analyse holds NaN or infinite samples")
    if rate_hz != ANALYSIS_RATE_HZ:
        x = resample(x, rate_hz, ANALYSIS_RATE_HZ)
    hop = int(round(config.frame_hop_s * ANALYSIS_RATE_HZ))
    frame = 1 << int(np.ceil(np.log2(config.frame_length_s * ANALYSIS_RATE_HZ)))
    if len(x) < frame:
        return Track(f0_hz=np.zeros(0), onsets_s=np.zeros(0), frame_hop_s=hop / ANALYSIS_RATE_HZ)
    f0, voiced, _ = librosa.pyin(
        x, fmin=config.fmin_hz, fmax=config.fmax_hz, sr=ANALYSIS_RATE_HZ, frame_length=frame, hop_length=hop,
        resolution=config.pitch_resolution_semitones, center=True,
    )
    f0 = np.where(voiced, f0, np.nan).astype(np.float64)
    onsets = librosa.onset.onset_detect(y=x, sr=ANALYSIS_RATE_HZ, hop_length=hop, units="time", backtrack=False)
    return Track(f0_hz=f0, onsets_s=np.asarray(onsets, dtype=np.float64), frame_hop_s=hop / ANALYSIS_RATE_HZ)
