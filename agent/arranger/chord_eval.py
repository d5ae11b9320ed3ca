"""`antiphon evaluate-chords`: a chord recogniser on the held-out songs of a song set, with mir_eval.

Scores (mir_eval.chord, duration-weighted over all held-out songs together): *majmin* (the issue's
bar) and *root*. Song mode: the recogniser hears the mix. Performer mode (it hears the melody alone: harmonisation,
causal) is reported beside two baselines fitted on the training songs:

- *key's most frequent chord*: the key of the whole held-out melody (Krumhansl-Schmuckler profiles
  on its pitch-class energy), then the chord most often heard in that mode's training songs
  (relative to their own key) for every frame;
- *nearest training melody bar*: each held-out bar's melody pitch-class energy (bars from the
  annotated downbeats; the whole bar, so this baseline hears ahead) is matched (cosine) to the
  training bars', and that bar's chords are replayed at the same positions.
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
from agent.arranger.frame_data import IGNORE, SongTake, load_takes, song_set_split
from agent.arranger.spectrum import frame_times
from agent.arranger.songs import NO_CHORD, class_label
from agent.errors import AntiphonError
from agent.files import write_json

log = logging.getLogger(__name__)

# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def predict_classes(bundle: FrameBundle, features: np.ndarray) -> np.ndarray:
    """The class of every frame (causal; with a delay, the class named at t + delay is frame t's)."""
    with torch.inference_mode():
        classes = bundle.model(torch.from_numpy(features)[None])[0].argmax(-1).numpy()
    d = bundle.config.delay_frames
    if d:
        classes = np.concatenate([classes[d:], np.full(d, classes[-1])])
    return classes


def class_intervals(classes: np.ndarray, config: SpectrumConfig) -> tuple[np.ndarray, list[str]]:
    """Frame classes -> merged intervals (frame t covers t x hop +- half a hop) and Harte labels."""
    change = np.nonzero(np.diff(classes))[0] + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(classes)]])
    edges = np.maximum((np.arange(len(classes) + 1) - 0.5) * config.frame_s, 0.0)
    intervals = np.stack([edges[starts], edges[ends]], axis=1)
    return intervals, [class_label(int(classes[s])) for s in starts]


def chord_scores(pieces: list[tuple[np.ndarray, list[str], np.ndarray, list[str], float]]) -> dict[str, float]:
    """mir_eval root and majmin, duration-weighted over several songs together: each piece is
    (reference intervals, labels, estimated intervals, labels, duration s); both sides are cut or
    padded with N to [0, duration]."""
    comparisons: dict[str, list[np.ndarray]] = {"majmin": [], "root": []}
    durations = []
    for ri, rl, ei, el, duration in pieces:
        sides = []
        for intervals, labels in ((ri, rl), (ei, el)):
            intervals = np.asarray(intervals, float).reshape(-1, 2)
            keep = intervals[:, 1] > intervals[:, 0] + 1e-9
            intervals, labels = mir_eval.util.adjust_intervals(intervals[keep], [l for l, k in zip(labels, keep) if k], 0.0, duration, "N", "N")
            keep = intervals[:, 1] > intervals[:, 0] + 1e-9
            sides.append((intervals[keep], [l for l, k in zip(labels, keep) if k]))
        (ri, rl), (ei, el) = sides
        merged, ref_labels, est_labels = mir_eval.util.merge_labeled_intervals(ri, rl, ei, el)
        durations.append(mir_eval.util.intervals_to_durations(merged))
        comparisons["majmin"].append(mir_eval.chord.majmin(ref_labels, est_labels))
        comparisons["root"].append(mir_eval.chord.root(ref_labels, est_labels))
    weights = np.concatenate(durations)
    return {name: float(mir_eval.chord.weighted_accuracy(np.concatenate(c), weights)) for name, c in comparisons.items()}


def reference(take: SongTake) -> tuple[np.ndarray, list[str]]:
    chords = take.score["chords"]
    return np.array([[a, b] for a, b, _ in chords], float).reshape(-1, 2), [c for _, _, c in chords]


def pitch_class_energy(features: np.ndarray, config: SpectrumConfig) -> np.ndarray:
    """[T, 12] energy per pitch class from the features (relative dB back to amplitude, folded)."""
    relative = features[:, : config.bins] * -config.floor_db  # dB below the frame's loudest
    loud = (features[:, config.bins] * 60.0)[:, None]
    amplitude = 10.0 ** ((relative + loud) / 20.0)
    first = config.fmin_midi % 12
    out = np.zeros((len(features), 12))
    for b in range(config.bins):
        out[:, (first + b) % 12] += amplitude[:, b]
    return out


def detect_key(energy: np.ndarray) -> tuple[int, int]:
    """(tonic pitch class, 0 major / 1 minor) of a [T, 12] pitch-class energy (Krumhansl-Schmuckler)."""
    total = energy.sum(axis=0)
    best, key = -np.inf, (0, 0)
    for mode, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(total, np.roll(profile, tonic))[0, 1]
            if np.isfinite(r) and r > best:
                best, key = r, (tonic, mode)
    return key


def relative_class(cls: int, tonic: int) -> int:
    return cls if cls == NO_CHORD else 1 + 12 * ((cls - 1) // 12) + ((cls - 1) % 12 - tonic) % 12


def absolute_class(rel: int, tonic: int) -> int:
    return rel if rel == NO_CHORD else 1 + 12 * ((rel - 1) // 12) + ((rel - 1) % 12 + tonic) % 12


class KeyBaseline:
    """The most frequent training chord (relative to the key) of the detected mode, for every frame."""

    def __init__(self, training: list[SongTake], config: SpectrumConfig) -> None:
        counts = np.zeros((2, 25))
        for take in training:
            tonic, mode = detect_key(pitch_class_energy(take.features, config))
            labels = take.labels[(take.labels != IGNORE) & (take.labels != NO_CHORD)]
            np.add.at(counts[mode], [relative_class(int(c), tonic) for c in labels], 1)
        self.relative = counts.argmax(axis=1)
        self.config = config

    def predict(self, take: SongTake) -> np.ndarray:
        tonic, mode = detect_key(pitch_class_energy(take.features, self.config))
        return np.full(len(take.features), absolute_class(int(self.relative[mode]), tonic))


def bars_of(take: SongTake, config: SpectrumConfig) -> list[tuple[int, int]]:
    """Frame spans of the take's bars (from its annotated downbeats)."""
    beats = np.asarray(take.score["beats"], float)
    down = beats[np.asarray(take.score["downbeats"], bool)]
    frames = np.round(down / config.frame_s).astype(int)
    frames = np.concatenate([frames, [len(take.features)]])
    return [(int(a), int(b)) for a, b in zip(frames[:-1], frames[1:]) if b - a >= 2]


class NearestBarBaseline:
    """Each bar replays the chords of the training bar whose melody sounds most alike."""

    POSITIONS = 16  # a bar's chords are kept at 16 positions

    def __init__(self, training: list[SongTake], config: SpectrumConfig) -> None:
        vectors, chords = [], []
        for take in training:
            energy = pitch_class_energy(take.features, config)
            for a, b in bars_of(take, config):
                vectors.append(energy[a:b].sum(axis=0))
                at = a + (np.arange(self.POSITIONS) * (b - a)) // self.POSITIONS
                chords.append(np.where(take.labels[at] == IGNORE, NO_CHORD, take.labels[at]))
        if not vectors:
            raise AntiphonError("no training bar to match melodies against (no downbeats in the song set?)")
        v = np.array(vectors)
        self.vectors = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        self.chords = np.array(chords)
        self.config = config

    def predict(self, take: SongTake) -> np.ndarray:
        energy = pitch_class_energy(take.features, self.config)
        out = np.full(len(take.features), NO_CHORD)
        for a, b in bars_of(take, self.config):
            v = energy[a:b].sum(axis=0)
            nearest = int(np.argmax(self.vectors @ (v / max(np.linalg.norm(v), 1e-9))))
            out[a:b] = self.chords[nearest][(np.arange(b - a) * self.POSITIONS) // (b - a)]
        return out


def evaluate_chords(model_dir: Path, song_set: Path, out_dir: Path, songs: int = 0, baseline_songs: int = 200) -> dict[str, Any]:
    """Score the recogniser (and, in performer mode, the baselines) on the held-out songs; write
    ``chords.json`` and ``chords.png`` into ``out_dir``. Returns the report."""
    bundle = load_frame_model(Path(model_dir))
    if bundle.config.task != "chords":
        raise AntiphonError(f"{bundle.path} is a {bundle.config.task} model; evaluate-chords scores chord recognisers")
    song_set = Path(song_set)
    training, heldout = song_set_split(song_set)
    if not heldout:
        raise AntiphonError(f"song set {song_set} has no held-out songs (split.json)")
    if songs:
        heldout = heldout[:songs]
    features = bundle.features
    hears = bundle.config.hears
    takes = load_takes(song_set, heldout, hears, features, desc="features (held out)")
    rows: dict[str, list] = {"model": []}
    baselines: dict[str, Any] = {}
    if hears == "melody":
        pool = load_takes(song_set, training[:baseline_songs], hears, features, desc="features (baselines)")
        baselines = {"key's most frequent chord": KeyBaseline(pool, features), "nearest training melody bar": NearestBarBaseline(pool, features)}
        rows.update({name: [] for name in baselines})
    predictions = {}
    for take in tqdm(takes, desc="recognising chords", unit="song", disable=None):
        ri, rl = reference(take)
        duration = len(take.features) * features.frame_s
        classes = predict_classes(bundle, take.features)
        predictions[take.name] = classes
        rows["model"].append((ri, rl, *class_intervals(classes, features), duration))
        for name, baseline in baselines.items():
            rows[name].append((ri, rl, *class_intervals(baseline.predict(take), features), duration))
    report: dict[str, Any] = {
        "model": str(bundle.path), "hears": hears, "song_set": str(song_set), "heldout_songs": len(takes),
        "hours": round(sum(len(t.features) for t in takes) * features.frame_s / 3600, 2),
        "delay_s": round(bundle.config.delay_frames * features.frame_s, 3),
        "scores": {name: chord_scores(pieces) for name, pieces in rows.items()},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "chords.json", report)
    plot_chords(out_dir / "chords.png", takes[0], predictions[takes[0].name], features, report)
    return report


def markdown_chords(report: dict[str, Any]) -> str:
    lines = ["| chords from | majmin | root |", "| --- | ---: | ---: |"]
    for name, s in report["scores"].items():
        lines.append(f"| {name} | {s['majmin']:.3f} | {s['root']:.3f} |")
    return "\n".join(lines)


def plot_chords(png: Path, take: SongTake, classes: np.ndarray, config: SpectrumConfig, report: dict[str, Any], seconds: float = 40.0) -> Path:
    """The first ``seconds`` of one held-out song: true and recognised chords over the spectrum."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(classes), int(seconds / config.frame_s))
    t = frame_times(n, config)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax0.imshow(take.features[:n, : config.bins].T, origin="lower", aspect="auto", extent=(0, t[-1], config.fmin_midi, config.fmin_midi + config.bins), cmap="magma",
               interpolation="nearest")  # one block per frame and bin: a sharper picture, and a PNG a fifth the size
    ax0.set_ylabel("MIDI pitch")
    ax0.set_title(f"{take.name} ({report['hears']}): constant-Q spectrum")
    truth = np.where(take.labels[:n] == IGNORE, NO_CHORD, take.labels[:n])
    ax1.step(t, truth, where="post", label="true", lw=2)
    ax1.step(t, classes[:n], where="post", label="recognised", lw=1)
    ax1.set_yticks([0, 1, 6, 13, 18], ["N", "C", "F", "Cm", "Fm"])
    ax1.set_ylabel("majmin class")
    ax1.set_xlabel("time (s)")
    s = report["scores"]["model"]
    ax1.set_title(f"held out: majmin {s['majmin']:.3f}, root {s['root']:.3f} over {report['heldout_songs']} songs")
    ax1.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return Path(png)


