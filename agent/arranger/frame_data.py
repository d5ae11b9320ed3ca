"""Renderings of a song set as a frame model learns from them: features and a class per frame
(the chord sounding, or none / beat / downbeat at the frames nearest the annotated beats)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.arranger.frame_config import SpectrumConfig
from agent.arranger.spectrum import file_features, frame_times
from agent.arranger.song_set import read_score
from agent.arranger.songs import NO_CHORD, chord_frames
from agent.demo.make_pairs import SCORE_FILE
from agent.errors import AntiphonError
from agent.pairs import SPLIT_FILE, work_of
from agent.files import read_json_object

IGNORE = -100  # a frame without a target (before the first chord is named, with a delay)


@dataclass(frozen=True)
class SongTake:
    """One rendering: what the recogniser hears ([T, D]), the true class per frame, the score."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    score: dict[str, Any]


def song_set_split(folder: Path) -> tuple[list[str], list[str]]:
    """(training, held-out) rendering names of a song set (its split.json)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AntiphonError(f"song set {folder} does not exist (make one with `antiphon make-song-set`)")
    present = sorted(p.name for p in folder.iterdir() if (p / SCORE_FILE).is_file())
    if not present:
        raise AntiphonError(f"{folder} holds no rendered songs (NNN/score.json); make one with `antiphon make-song-set`")
    split = read_json_object(folder / SPLIT_FILE, "song-set split")
    heldout = split.get("heldout", [])
    if not isinstance(heldout, list) or not all(isinstance(n, str) for n in heldout):
        raise AntiphonError(f"{folder / SPLIT_FILE}: 'heldout' must be a list of song names")
    held = set(heldout)
    return [n for n in present if n not in held], [n for n in present if n in held]


def validation_split(names: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(fit, validation): a seeded share of the songs (every rendering of a song on one side)."""
    works = sorted({work_of(n) for n in names})
    if len(works) < 2:
        raise AntiphonError(f"training needs at least 2 songs, the song set has {len(works)}")
    order = [works[i] for i in np.random.default_rng(seed).permutation(len(works))]
    chosen = set(order[: max(1, int(round(fraction * len(works))))])
    return [n for n in names if work_of(n) not in chosen], [n for n in names if work_of(n) in chosen]


def load_takes(folder: Path, names: list[str], hears: str, config: SpectrumConfig, delay_frames: int = 0, desc: str = "features",
               task: str = "chords") -> list[SongTake]:
    """Features of ``<name>/<hears>.flac`` and the class per frame (the class of frame t - delay at t)."""
    takes = []
    for name in tqdm(names, desc=desc, unit="song", disable=None):
        score = read_score(Path(folder) / name)
        if int(score["sample_rate_hz"]) != config.sample_rate_hz:
            raise AntiphonError(f"{Path(folder) / name}: rendered at {score['sample_rate_hz']} Hz; the recogniser hears {config.sample_rate_hz} Hz")
        features = file_features(Path(folder) / name / f"{hears}.flac", config)
        if task == "chords":
            labels = chord_frames([tuple(c) for c in score["chords"]], frame_times(len(features), config))
        else:
            labels = beat_frames(np.asarray(score["beats"], float), np.asarray(score["downbeats"], bool), len(features), config)
        if delay_frames:
            labels = np.concatenate([np.full(delay_frames, IGNORE), labels[:-delay_frames]])
        takes.append(SongTake(name=name, features=features, labels=labels, score=score))
    return takes


def rotate_classes(labels: np.ndarray, shift: int) -> np.ndarray:
    """Majmin classes moved by ``shift`` semitones (N and ignored frames stay)."""
    out = labels.copy()
    chord = labels > NO_CHORD
    root, minor = (labels[chord] - 1) % 12, (labels[chord] - 1) // 12
    out[chord] = 1 + 12 * minor + (root + shift) % 12
    return out


BEAT_WIDTH_FRAMES = 1  # a beat's class also marks this many frames either side (a wider target)


def beat_frames(beats: np.ndarray, downbeats: np.ndarray, count: int, config: SpectrumConfig) -> np.ndarray:
    """0 per frame, 1 at (and next to) the frames nearest the beats, 2 at the downbeats'."""
    out = np.zeros(count, dtype=np.int64)
    at = np.round(beats / config.frame_s).astype(int)
    for offset in range(-BEAT_WIDTH_FRAMES, BEAT_WIDTH_FRAMES + 1):
        for value, mask in ((1, ~downbeats), (2, downbeats)):
            frames = at[mask] + offset
            frames = frames[(frames >= 0) & (frames < count)]
            out[frames] = np.maximum(out[frames], value)
    return out
