"""`antiphon evaluate-arranger`: the whole arranger on held-out songs, from their rendered audio.

Each held-out rendering of a song set is arranged as `antiphon arrange` would (song mode: it hears
the mix; performer mode: the melody alone): beats tracked, chords recognised, the texture model
playing bar after bar. The notes it plays are then laid on the song's *true* bars (its annotated
beats; agent/arranger/bars.py) and scored bar by bar against the true piano part with the texture
evaluation's measures (agent/arranger/texture_eval.py): chord fit against the *true* chords (the
issue's definition: the full annotated chord), onsets per bar and polyphony against the true part,
texture similarity. Baselines, on the same recognised chords and tracked bars: block triads, and a
random bar of a training song transposed to the chord. Recognition and tracking errors count
against every row alike; the true piano part is the ceiling.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.arranger.arrange import ArrangeConfig, ArrangerModels, hear, play
from agent.arranger.bars import SongBars, cut_bars, notes_in_seconds
from agent.arranger.frame_data import song_set_split
from agent.arranger.song_set import read_score
from agent.arranger.songs import Song
from agent.arranger.texture_eval import RandomBars, Tally, block_triads, bootstrap_difference, checks_line, comparison_lines, song_seed
from agent.audio_io import read_mono
from agent.errors import AntiphonError
from agent.files import write_json

log = logging.getLogger(__name__)

METHODS = ("true piano", "arranger", "block triads (recognised chords)", "random bar (recognised chords)")
POOL_SONGS = 100


def score_song(score: dict[str, Any], name: str) -> Song:
    """The true song of a rendering (its score.json, on the rendered time line)."""
    notes = {part: np.asarray(n, dtype=np.float64).reshape(-1, 4) for part, n in score["notes"].items()}
    return Song(name=name, notes=notes, beats=np.asarray(score["beats"], float), downbeats=np.asarray(score["downbeats"], bool),
                chords=[(float(a), float(b), str(c)) for a, b, c in score["chords"]])


def on_true_bars(song: Song, notes_s: np.ndarray) -> SongBars:
    """Notes on the song's time line laid on its true bars (as its own piano part would be)."""
    return cut_bars(replace(song, notes={**song.notes, "piano": np.asarray(notes_s, float).reshape(-1, 4)}))


def evaluate_arranger(song_set: Path, out_dir: Path, mode: str, models: ArrangerModels, songs: int = 0, seed: int = 0,
                      tempo_given: bool = False) -> dict[str, Any]:
    """Arrange every held-out rendering (or the first ``songs``) and score it; writes ``arranger-<mode>.json``.
    ``tempo_given``: each song's tempo is given (its annotated median beat period, as a performer sets
    it with --tempo-bpm or /tempo); the beat phase and downbeats still come from the beat model."""
    song_set = Path(song_set)
    training, heldout = song_set_split(song_set)
    if not heldout:
        raise AntiphonError(f"song set {song_set} has no held-out songs (split.json)")
    heldout = heldout[:songs] if songs else heldout
    config = ArrangeConfig(mode=mode, seed=seed)
    pool_names = [n for n in training if "@" not in n][:POOL_SONGS]
    pool = [cut_bars(score_song(read_score(song_set / n), n)) for n in pool_names]  # the random-bar baseline's training bars
    random_bars = RandomBars(pool)
    tallies = {m: Tally() for m in METHODS}
    rate = models.chords.features.sample_rate_hz
    failed = []
    for name in tqdm(heldout, desc="arranging held-out songs", unit="song", disable=None):
        score = read_score(song_set / name)
        song = score_song(score, name)
        truth = cut_bars(song)
        audio, _ = read_mono(song_set / name / ("mix.flac" if mode == "song" else "melody.flac"), rate_hz=rate)
        if tempo_given:
            config = replace(config, tempo_bpm=round(60.0 / float(np.median(np.diff(score["beats"]))), 2))
        try:
            heard = hear(audio, rate, models, config)
        except AntiphonError as exc:
            failed.append(f"{name}: {exc}")
            continue
        rng = np.random.default_rng(song_seed(seed, name))
        played = {
            "arranger": play(heard, models.texture, config),
            "block triads (recognised chords)": [block_triads(b) for b in heard.bars],
            "random bar (recognised chords)": [random_bars.draw(b, rng) for b in heard.bars],
        }
        parts = {"true piano": truth}
        for method, bars_notes in played.items():
            notes_s = np.concatenate([notes_in_seconds(b, n) for b, n in zip(heard.bars, bars_notes)] or [np.zeros((0, 4))])
            parts[method] = on_true_bars(song, notes_s)
        for method, laid in parts.items():
            for generated, true_bar in zip(laid.bars, truth.bars):
                tallies[method].add(name, generated.notes, true_bar)
    if not any(t.sums["bars"] for t in tallies.values()):
        raise AntiphonError(f"no held-out song could be arranged ({failed[0] if failed else 'none'})")
    figures = {m: t.figures() for m, t in tallies.items()}
    true = figures["true piano"]
    for f in figures.values():
        f["onsets_ratio_to_true"] = f["onsets_per_bar"] / max(true["onsets_per_bar"], 1e-9)
        f["polyphony_ratio_to_true"] = f["polyphony"] / max(true["polyphony"], 1e-9)
    comparisons = {}
    for other in METHODS[2:]:
        diff, low, high = bootstrap_difference(tallies["arranger"].per_song, tallies[other].per_song, seed)
        comparisons[other] = {"model_minus_other": diff, "ci95_low": low, "ci95_high": high}
    a = figures["arranger"]
    report = {
        "song_set": str(song_set), "mode": mode, "tempo": "given (annotated)" if tempo_given else "found by the beat model",
        "heldout_songs": len(heldout) - len(failed), "failed": failed,
        "models": {"chords": str(models.chords.path), "beats": str(models.beats.path), "texture": str(models.texture.path)},
        "figures": figures, "texture_similarity_arranger_minus": comparisons,
        "checks": {
            "chord_fit_full_at_least_0.85": bool(a["chord_fit_full"] >= 0.85),
            "onsets_within_25_percent": bool(abs(a["onsets_ratio_to_true"] - 1) <= 0.25),
            "polyphony_within_25_percent": bool(abs(a["polyphony_ratio_to_true"] - 1) <= 0.25),
            "beats_block_triads": bool(comparisons["block triads (recognised chords)"]["ci95_low"] > 0),
            "beats_random_bar": bool(comparisons["random bar (recognised chords)"]["ci95_low"] > 0),
        },
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"arranger-{mode}.json", report)
    return report


def markdown_arranger(report: dict[str, Any]) -> str:
    rows = ["| part | chord fit (full chord) | chord fit (triad) | onsets / bar | x true | polyphony | x true | texture sim. |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for method, f in report["figures"].items():
        texture = f"{f['texture_similarity']:.3f}" if method != "true piano" else "(1)"
        rows.append(f"| {method} | {f['chord_fit_full']:.3f} | {f['chord_fit_triad']:.3f} | {f['onsets_per_bar']:.1f} | {f['onsets_ratio_to_true']:.2f} | "
                    f"{f['polyphony']:.2f} | {f['polyphony_ratio_to_true']:.2f} | {texture} |")
    lines = [*rows, "", *comparison_lines("arranger", report["texture_similarity_arranger_minus"]), checks_line(report["checks"])]
    if report["failed"]:
        lines.append(f"- not arranged: {len(report['failed'])} song(s), e.g. {report['failed'][0]}")
    return "\n".join(lines)
