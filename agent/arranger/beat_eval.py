"""Beats and downbeats from a beat model's activation, and `antiphon evaluate-beats`.

Tracking (offline): the model's per-frame beat probability (beat + downbeat) is the onset strength
for librosa's dynamic-programming beat tracker (Ellis 2007), which picks a steady tempo and the
beat times (none when the activation at them is weak on average: no beat found); the downbeats are every fourth beat, at the phase whose beats carry the most downbeat
probability. Scored with mir_eval (F-measure at +-70 ms, first 5 s skipped): at the annotated
metrical level, and at the best of half, same or double tempo; beside librosa's own tracker on
the same audio (spectral-flux onset strength) as the baseline.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
import torch
from tqdm import tqdm

from agent.arranger.frame_checkpoint import FrameBundle, load_frame_model
from agent.arranger.frame_config import SpectrumConfig
from agent.arranger.frame_data import SongTake, load_takes, song_set_split
from agent.arranger.spectrum import frame_times
from agent.audio_io import read_mono
from agent.errors import AntiphonError
from agent.files import write_json

log = logging.getLogger(__name__)

BEATS_PER_BAR = 4
MIN_BEATS = 4  # fewer beats found than this: "no beat found"
MIN_BEAT_STRENGTH = 0.5  # mean beat probability at the tracked beats below this: "no beat found" (music ~0.7, a drone or noise ~0.2-0.4)


def beat_probabilities(bundle: FrameBundle, features: np.ndarray) -> np.ndarray:
    """[T, 3] probabilities (none, beat, downbeat) per frame, the delay undone."""
    with torch.inference_mode():
        probs = torch.softmax(bundle.model(torch.from_numpy(features)[None])[0], dim=-1).numpy()
    d = bundle.config.delay_frames
    return np.concatenate([probs[d:], np.repeat(probs[-1:], d, axis=0)]) if d else probs


def track_beats(probs: np.ndarray, config: SpectrumConfig, bpm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, downbeat times) in seconds from [T, 3] probabilities; ``bpm`` fixes the tempo."""
    import librosa

    strength = (probs[:, 1] + probs[:, 2]).astype(np.float32)
    if len(strength) < 8 or (not bpm and float(strength.max()) < 0.05):
        return np.zeros(0), np.zeros(0)
    kwargs = {"bpm": float(bpm)} if bpm else {}
    _, frames = librosa.beat.beat_track(onset_envelope=strength, sr=config.sample_rate_hz, hop_length=config.hop_samples, trim=False, **kwargs)
    frames = np.asarray(frames, dtype=int)
    if len(frames) == 0 or (not bpm and float(strength[frames].mean()) < MIN_BEAT_STRENGTH):  # a given tempo is trusted
        return np.zeros(0), np.zeros(0)
    phase = int(np.argmax([probs[frames[k::BEATS_PER_BAR], 2].sum() for k in range(min(BEATS_PER_BAR, len(frames)))]))
    times = frame_times(len(probs), config)[frames]
    return times, times[phase::BEATS_PER_BAR]


def librosa_beats(audio: np.ndarray, rate: int) -> np.ndarray:
    import librosa

    _, frames = librosa.beat.beat_track(y=audio, sr=rate, hop_length=512)
    return librosa.frames_to_time(frames, sr=rate, hop_length=512)


def beat_f(reference: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """(F-measure at the annotated level, the best of half, same and double tempo)."""
    ref = mir_eval.beat.trim_beats(np.asarray(reference, float))
    est = mir_eval.beat.trim_beats(np.asarray(estimate, float))
    if len(ref) < 2 or len(est) < 2:
        return 0.0, 0.0
    f = mir_eval.beat.f_measure(ref, est)
    doubled = np.sort(np.concatenate([est, (est[:-1] + est[1:]) / 2]))
    return f, max(f, mir_eval.beat.f_measure(ref, doubled), mir_eval.beat.f_measure(ref, est[::2]))


def evaluate_beats(model_dir: Path, song_set: Path, out_dir: Path, songs: int = 0) -> dict[str, Any]:
    """Beat and downbeat F-measure of the model's tracking and of librosa's on the held-out mixes."""
    bundle = load_frame_model(Path(model_dir))
    if bundle.config.task != "beats":
        raise AntiphonError(f"{bundle.path} is a {bundle.config.task} model; evaluate-beats scores beat models")
    _, heldout = song_set_split(Path(song_set))
    if not heldout:
        raise AntiphonError(f"song set {song_set} has no held-out songs (split.json)")
    heldout = heldout[:songs] if songs else heldout
    config = bundle.features
    takes = load_takes(Path(song_set), heldout, bundle.config.hears, config, desc="features (held out)", task="beats")
    rows: dict[str, dict[str, list[float]]] = {name: {"beat": [], "any_level": [], "downbeat": []} for name in ("model", "librosa")}
    first = None
    for take in tqdm(takes, desc="tracking beats", unit="song", disable=None):
        ref = np.asarray(take.score["beats"], float)
        ref_down = ref[np.asarray(take.score["downbeats"], bool)]
        probs = beat_probabilities(bundle, take.features)
        beats, downs = track_beats(probs, config)
        first = first or (take, probs, beats)
        audio, rate = read_mono(Path(song_set) / take.name / f"{bundle.config.hears}.flac", rate_hz=config.sample_rate_hz)
        for name, (b, d) in (("model", (beats, downs)), ("librosa", (librosa_beats(audio, rate), None))):
            f, any_level = beat_f(ref, b)
            rows[name]["beat"].append(f)
            rows[name]["any_level"].append(any_level)
            if d is not None:
                rows[name]["downbeat"].append(beat_f(ref_down, d)[0])
    report: dict[str, Any] = {
        "model": str(bundle.path), "song_set": str(song_set), "heldout_songs": len(takes),
        "scores": {name: {k: round(float(np.mean(v)), 4) for k, v in r.items() if v} for name, r in rows.items()},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "beats.json", report)
    if first is not None:
        plot_beats(out_dir / "beats.png", *first, config)
    return report


def markdown_beats(report: dict[str, Any]) -> str:
    lines = ["| beats from | F-measure | F-measure, best of half/same/double tempo | downbeat F-measure |", "| --- | ---: | ---: | ---: |"]
    names = {"model": "the beat model's activation + dynamic programming", "librosa": "librosa (spectral flux + dynamic programming)"}
    for name, s in report["scores"].items():
        lines.append(f"| {names.get(name, name)} | {s['beat']:.3f} | {s['any_level']:.3f} | {s.get('downbeat', float('nan')):.3f} |".replace("nan", "-"))
    return "\n".join(lines)


def plot_beats(png: Path, take: SongTake, probs: np.ndarray, beats: np.ndarray, config: SpectrumConfig, seconds: float = 20.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(probs), int(seconds / config.frame_s))
    t = frame_times(n, config)
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.plot(t, probs[:n, 1], label="p(beat)", lw=1)
    ax.plot(t, probs[:n, 2], label="p(downbeat)", lw=1)
    ref = np.asarray(take.score["beats"], float)
    ax.vlines(ref[ref < seconds], 1.02, 1.12, color="k", lw=1, label="annotated beats")
    ax.vlines(beats[beats < seconds], -0.12, -0.02, color="tab:red", lw=1, label="tracked beats")
    ax.set_xlabel("time (s)")
    ax.set_title(f"{take.name}: beat model activation, annotated and tracked beats")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return Path(png)
