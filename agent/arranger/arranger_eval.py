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

Oracle rows show where the arrangement is lost: the arranger and the random bar again on the same
tracked bars, but given the song's *true* chord at each step instead of the recognised one (the
melody and beats still as heard). The gap between an oracle row and its heard row is what chord
recognition (song mode) or harmonisation (performer mode) costs.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.arranger.arrange import ArrangeConfig, ArrangerModels, hear, play
from agent.arranger.bars import Bar, SongBars, cut_bars, notes_in_seconds
from agent.arranger.frame_data import song_set_split
from agent.arranger.song_set import read_score, score_song
from agent.arranger.songs import NO_CHORD, Song, chord_frames
from agent.arranger.texture_eval import RandomBars, Tally, block_triads, bootstrap_difference, checks_line, comparison_lines, song_seed
from agent.audio_io import read_mono
from agent.errors import AntiphonError
from agent.files import write_json

log = logging.getLogger(__name__)

METHODS = ("true piano", "arranger", "block triads (recognised chords)", "random bar (recognised chords)")
ORACLES = ("arranger on the true chords (oracle)", "random bar on the true chords (oracle)")
POOL_SONGS = 100


def with_true_chords(bars: list[Bar], song: Song) -> list[Bar]:
    """The heard bars, each step's chord replaced by the song's true chord at the step's middle."""
    return [replace(b, chords=chord_frames(song.chords, (b.step_times_s[:-1] + b.step_times_s[1:]) / 2)) for b in bars]


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
    tallies = {m: Tally() for m in METHODS + ORACLES}
    rate = models.chords.features.sample_rate_hz
    failed = []
    chord_steps = np.zeros(2, dtype=np.int64)  # steps with a true chord whose recognised chord is it; such steps
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
        told = with_true_chords(heard.bars, song)
        for b, t in zip(heard.bars, told):
            named = t.chords != NO_CHORD
            chord_steps += (int((b.chords[named] == t.chords[named]).sum()), int(named.sum()))
        played = {
            "arranger": play(heard, models.texture, config),
            "block triads (recognised chords)": [block_triads(b) for b in heard.bars],
            "random bar (recognised chords)": [random_bars.draw(b, rng) for b in heard.bars],
            ORACLES[0]: play(replace(heard, bars=told), models.texture, config),
            ORACLES[1]: [random_bars.draw(b, rng) for b in told],
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
    for subject, other in [("arranger", m) for m in METHODS[2:]] + [ORACLES]:
        diff, low, high = bootstrap_difference(tallies[subject].per_song, tallies[other].per_song, seed)
        comparisons[other] = {"model_minus_other": diff, "ci95_low": low, "ci95_high": high}
    a = figures["arranger"]
    checks = {  # the bars; the chord-fit bar is song mode's (performer mode reports it)
        **({"chord_fit_full_at_least_0.85": bool(a["chord_fit_full"] >= 0.85)} if mode == "song" else {}),
        "onsets_within_25_percent": bool(abs(a["onsets_ratio_to_true"] - 1) <= 0.25),
        "polyphony_within_25_percent": bool(abs(a["polyphony_ratio_to_true"] - 1) <= 0.25),
        "beats_block_triads": bool(comparisons["block triads (recognised chords)"]["ci95_low"] > 0),
        "beats_random_bar": bool(comparisons["random bar (recognised chords)"]["ci95_low"] > 0),
    }
    report = {
        "song_set": str(song_set), "mode": mode, "tempo": "given (annotated)" if tempo_given else "found by the beat model",
        "heldout_songs": len(heldout) - len(failed), "failed": failed,
        "models": {"chords": str(models.chords.path), "beats": str(models.beats.path), "texture": str(models.texture.path),
                   "note_harmoniser": str(models.note_harmoniser.path) if models.note_harmoniser else None},
        "chords_named_by": "the note harmoniser (the transcribed melody)" if models.note_harmoniser and mode == "performer" else "the chords model",
        "recognised_chord_step_accuracy": float(chord_steps[0] / chord_steps[1]) if chord_steps[1] else None,
        "figures": figures, "texture_similarity_arranger_minus": {m: comparisons[m] for m in METHODS[2:]},
        "texture_similarity_oracle_arranger_minus": {ORACLES[1]: comparisons[ORACLES[1]]},
        "checks": checks,
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
    step_accuracy = report.get("recognised_chord_step_accuracy")
    named = f"the true chord at {step_accuracy:.3f} of the heard bars' 16th steps" if step_accuracy is not None else "no heard step has a true chord"
    lines = [*rows, "", f"- chords named by {report.get('chords_named_by', 'the chords model')}: {named}", *comparison_lines("arranger", report["texture_similarity_arranger_minus"]),
             *comparison_lines("the arranger on the true chords (oracle)", report.get("texture_similarity_oracle_arranger_minus", {})),
             checks_line(report["checks"])]
    if report["failed"]:
        lines.append(f"- not arranged: {len(report['failed'])} song(s), e.g. {report['failed'][0]}")
    return "\n".join(lines)
