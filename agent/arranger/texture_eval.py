"""How the texture model plays on held-out songs, bar by bar, against the true piano part and two baselines.

Every held-out song is played *free-running*: each bar gets the true chords and melody, and the bar
the model itself generated before it (none at the start or after a skipped bar), as the live and
offline arranger use it. Per method, over all bars:

- **chord fit**: the share of sounding note-steps (a note sounding during a 16th step counts once per
  step) whose pitch class belongs to the chord, over steps with a chord. *Triad*: the majmin triad
  the model is conditioned on; *full chord*: every pitch class of the annotated Harte chord (its
  sevenths, extensions and bass too: the issue's definition).
- **onsets per bar** (note events starting in the bar) and **polyphony** (mean number of notes
  sounding per step, over steps where one sounds), each also as a ratio to the true part's.
- **texture similarity** (per bar, then averaged; 0..1): the mean of
  *rhythm similarity*, the cosine between the two bars' onset-count vectors over the 16 steps, and
  *voicing similarity*, the cosine between their voicing histograms: sounding note-steps binned by
  interval above the chord root (12) x register (below C3, C3-B3, C4-B4, C5 and above), over steps
  with a chord. Two empty vectors count as 1, one empty as 0. It compares the generated bar with the
  true part of *this* bar of *this* song: a texture that suits the song scores higher than a good
  but generic one.

Baselines: *block triads* (the root-position triad of each chord segment held for the segment, root
in C3..B3, velocity 80) and *random bar* (a seeded random bar of a training song whose first chord
has the same quality, transposed to the bar's first chord root). A hindsight reference, *true
previous bar* (the true part of the bar before, transposed likewise), shows how much a song's texture
carries from bar to bar. Differences to the model are given with a 95 % bootstrap interval over songs.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agent.arranger.bars import STEPS_PER_BAR, Bar, SongBars, bar_roll, empty_notes
from agent.arranger.songs import NO_CHORD, class_label, class_pitches
from agent.arranger.texture_config import SamplingConfig
from agent.arranger.texture_model import TextureModel, generate_bar
from agent.files import write_json
from agent.piece_bootstrap import pooled_ratio_interval

REGISTER_EDGES = (48, 60, 72)  # C3, C4, C5: four register bands
BLOCK_ROOT_LOW = 48  # block triads: root in 48..59
BLOCK_VELOCITY = 80
POOL_SONGS = 100  # training songs the random-bar baseline draws from
BOOTSTRAP = 2000
METHODS = ("true piano", "model", "model, melody unknown", "block triads", "random bar", "true previous bar (hindsight)")


# ----------------------------------------------------------------------------------------------
# metrics of one bar


def chord_fit_counts(notes: np.ndarray, bar: Bar) -> dict[str, int]:
    """Sounding note-steps over steps with a chord: how many in the triad, in the full chord, in all."""
    roll = bar_roll(notes)
    steps, pitches = np.nonzero(roll)
    chord = bar.chords[steps]
    named = chord != NO_CHORD
    steps, pitches, chord = steps[named], pitches[named], chord[named]
    triads = np.zeros((25, 12), dtype=bool)
    for k in range(1, 25):
        triads[k, list(class_pitches(k))] = True
    in_triad = int(triads[chord, pitches % 12].sum())
    in_full = int(bar.chord_tones[steps, pitches % 12].sum()) if bar.chord_tones is not None else in_triad
    return {"triad": in_triad, "full": in_full, "total": int(len(steps))}


def onset_vector(notes: np.ndarray) -> np.ndarray:
    return np.bincount(np.asarray(notes, dtype=np.int64).reshape(-1, 4)[:, 0], minlength=STEPS_PER_BAR)[:STEPS_PER_BAR].astype(np.float64)


def voicing_histogram(notes: np.ndarray, bar: Bar) -> np.ndarray:
    """Sounding note-steps by interval above the chord root x register band, over steps with a chord (48 bins)."""
    steps, pitches = np.nonzero(bar_roll(notes))
    chord = bar.chords[steps]
    named = chord != NO_CHORD
    interval = (pitches[named] - (chord[named] - 1) % 12) % 12
    band = np.searchsorted(REGISTER_EDGES, pitches[named], side="right")
    return np.bincount(band * 12 + interval, minlength=12 * (len(REGISTER_EDGES) + 1)).astype(np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return min(1.0, float(a @ b / (na * nb)))


def texture_similarity(notes: np.ndarray, bar: Bar) -> dict[str, float]:
    """Rhythm, voicing and texture (their mean) similarity of ``notes`` to the bar's true part."""
    rhythm = cosine(onset_vector(notes), onset_vector(bar.notes))
    voicing = cosine(voicing_histogram(notes, bar), voicing_histogram(bar.notes, bar))
    return {"rhythm": rhythm, "voicing": voicing, "texture": 0.5 * (rhythm + voicing)}


def polyphony_counts(notes: np.ndarray) -> tuple[int, int]:
    """(sounding note-steps, steps where something sounds)."""
    per_step = bar_roll(notes).sum(axis=1)
    return int(per_step.sum()), int((per_step > 0).sum())


# ----------------------------------------------------------------------------------------------
# methods: each gives a bar's notes


def song_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)


def free_running(model: TextureModel, song: SongBars, sampling: SamplingConfig, seed: int = 0, melody_known: bool = True,
                 times_ms: list[float] | None = None) -> list[np.ndarray]:
    """The model's part for every bar of a song, each bar after the model's own previous one."""
    generator = torch.Generator().manual_seed(song_seed(seed, song.name))
    out: list[np.ndarray] = []
    for i, bar in enumerate(song.bars):
        previous = song.bars[i - 1].with_notes(out[-1]) if i > 0 and song.follows[i] else None
        t0 = time.perf_counter()
        out.append(generate_bar(model, bar, previous, sampling, generator, melody_known))
        if times_ms is not None:
            times_ms.append(1e3 * (time.perf_counter() - t0))
    return out


def block_triads(bar: Bar) -> np.ndarray:
    """The root-position triad of each chord segment, held for the segment, root in C3..B3."""
    notes = []
    start = 0
    for s in range(1, STEPS_PER_BAR + 1):
        if s == STEPS_PER_BAR or bar.chords[s] != bar.chords[start]:
            chord = int(bar.chords[start])
            if chord != NO_CHORD:
                root, third, fifth = class_pitches(chord)
                base = BLOCK_ROOT_LOW + root
                for pitch in (base, base + (third - root) % 12, base + (fifth - root) % 12):
                    notes.append((start, pitch, s - start, BLOCK_VELOCITY))
            start = s
    return np.array(sorted(notes), dtype=np.int64).reshape(-1, 4)


def _first_chord(bar: Bar) -> int:
    named = bar.chords[bar.chords != NO_CHORD]
    return int(named[0]) if len(named) else NO_CHORD


def _shift_to(source_chord: int, target_chord: int) -> int:
    """Semitones (-5..+6) taking one chord's root to another's (0 when either is N)."""
    if NO_CHORD in (source_chord, target_chord):
        return 0
    return ((target_chord - source_chord) % 12 + 5) % 12 - 5


def transposed_notes(notes: np.ndarray, shift: int) -> np.ndarray:
    out = np.asarray(notes, dtype=np.int64).reshape(-1, 4).copy()
    out[:, 1] = np.clip(out[:, 1] + shift, 0, 127)
    return out


class RandomBars:
    """The random-bar baseline: bars of training songs, drawn by quality of their first chord."""

    def __init__(self, songs: list[SongBars]) -> None:
        self.bars = [b for s in songs for b in s.bars if len(b.notes)]
        quality = np.array([0 if _first_chord(b) == NO_CHORD else 1 + (_first_chord(b) - 1) // 12 for b in self.bars])
        self.by_quality = {q: np.nonzero(quality == q)[0] for q in (0, 1, 2)}

    def draw(self, bar: Bar, rng: np.random.Generator) -> np.ndarray:
        target = _first_chord(bar)
        q = 0 if target == NO_CHORD else 1 + (target - 1) // 12
        pool = self.by_quality[q] if len(self.by_quality[q]) else np.arange(len(self.bars))
        source = self.bars[int(rng.choice(pool))]
        return transposed_notes(source.notes, _shift_to(_first_chord(source), target))


# ----------------------------------------------------------------------------------------------
# the evaluation


class Tally:
    """Running sums of one method's figures over bars, and its per-song texture similarities."""

    def __init__(self) -> None:
        self.sums = {k: 0.0 for k in ("triad", "full", "chord_total", "onsets", "sounding", "active", "bars", "rhythm", "voicing", "texture")}
        self.per_song: dict[str, list[float]] = {}

    def add(self, song: str, notes: np.ndarray, bar: Bar) -> None:
        fit = chord_fit_counts(notes, bar)
        sounding, active = polyphony_counts(notes)
        sim = texture_similarity(notes, bar)
        s = self.sums
        s["triad"] += fit["triad"]
        s["full"] += fit["full"]
        s["chord_total"] += fit["total"]
        s["onsets"] += len(notes)
        s["sounding"] += sounding
        s["active"] += active
        s["bars"] += 1
        for k in ("rhythm", "voicing", "texture"):
            s[k] += sim[k]
        self.per_song.setdefault(song, []).append(sim["texture"])

    def figures(self) -> dict[str, float]:
        s = self.sums
        bars = max(s["bars"], 1)
        return {
            "chord_fit_triad": s["triad"] / max(s["chord_total"], 1),
            "chord_fit_full": s["full"] / max(s["chord_total"], 1),
            "onsets_per_bar": s["onsets"] / bars,
            "polyphony": s["sounding"] / max(s["active"], 1),
            "rhythm_similarity": s["rhythm"] / bars,
            "voicing_similarity": s["voicing"] / bars,
            "texture_similarity": s["texture"] / bars,
            "bars": int(s["bars"]),
        }


def bootstrap_difference(a: dict[str, list[float]], b: dict[str, list[float]], seed: int) -> tuple[float, float, float]:
    """Mean per-bar texture similarity of ``a`` minus ``b`` and its 95 % interval, resampling songs."""
    songs = sorted(set(a) & set(b))
    diffs = [np.asarray(a[s]) - np.asarray(b[s]) for s in songs]
    sums = np.array([d.sum() for d in diffs])
    counts = np.array([len(d) for d in diffs])
    return pooled_ratio_interval(sums[None], counts[None], resamples=BOOTSTRAP, seed=seed)


def evaluate_songs(model: TextureModel, songs: list[SongBars], pool: list[SongBars], sampling: SamplingConfig, seed: int = 0,
                   with_melody_unknown: bool = True) -> dict[str, Any]:
    """Every method on every bar of ``songs`` (held out); ``pool``: training songs for the random-bar baseline."""
    tallies = {m: Tally() for m in METHODS if with_melody_unknown or m != "model, melody unknown"}
    random_bars = RandomBars(pool)
    times_ms: list[float] = []
    examples: dict[str, dict[str, list[np.ndarray]]] = {}
    for song in tqdm(songs, desc="held-out songs", unit="song", disable=None, leave=False):
        rng = np.random.default_rng(song_seed(seed, song.name))
        parts: dict[str, list[np.ndarray]] = {
            "true piano": [b.notes for b in song.bars],
            "model": free_running(model, song, sampling, seed, True, times_ms),
            "block triads": [block_triads(b) for b in song.bars],
            "random bar": [random_bars.draw(b, rng) for b in song.bars],
            "true previous bar (hindsight)": [
                transposed_notes(song.bars[i - 1].notes, _shift_to(_first_chord(song.bars[i - 1]), _first_chord(b))) if i > 0 and song.follows[i] else empty_notes()
                for i, b in enumerate(song.bars)],
        }
        if "model, melody unknown" in tallies:
            parts["model, melody unknown"] = free_running(model, song, sampling, seed, False)
        for method, tally in tallies.items():
            for notes, bar in zip(parts[method], song.bars):
                tally.add(song.name, notes, bar)
        examples[song.name] = parts
    figures = {m: t.figures() for m, t in tallies.items()}
    true = figures["true piano"]
    for m, f in figures.items():
        f["onsets_ratio_to_true"] = f["onsets_per_bar"] / max(true["onsets_per_bar"], 1e-9)
        f["polyphony_ratio_to_true"] = f["polyphony"] / max(true["polyphony"], 1e-9)
    comparisons = {}
    for other in ("block triads", "random bar", "true previous bar (hindsight)"):
        diff, low, high = bootstrap_difference(tallies["model"].per_song, tallies[other].per_song, seed)
        comparisons[other] = {"model_minus_other": diff, "ci95_low": low, "ci95_high": high}
    times = np.array(times_ms)
    return {
        "songs": [s.name for s in songs],
        "bars": int(sum(len(s.bars) for s in songs)),
        "sampling": sampling.to_dict(),
        "seed": seed,
        "figures": figures,
        "texture_similarity_model_minus": comparisons,
        "generation_ms": {"mean": float(times.mean()), "p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
                          "max": float(times.max()), "torch_threads": torch.get_num_threads()} if len(times) else {},
        "checks": checks(figures, comparisons),
        "_parts": examples,  # not written: for the plot
    }


def checks(figures: dict[str, dict[str, float]], comparisons: dict[str, dict[str, float]]) -> dict[str, bool]:
    """The issue's bars: density and polyphony within 25 % of the true part; texture similarity above both baselines."""
    m = figures["model"]
    return {
        "onsets_within_25_percent": bool(abs(m["onsets_ratio_to_true"] - 1) <= 0.25),
        "polyphony_within_25_percent": bool(abs(m["polyphony_ratio_to_true"] - 1) <= 0.25),
        "beats_block_triads": bool(comparisons["block triads"]["ci95_low"] > 0),
        "beats_random_bar": bool(comparisons["random bar"]["ci95_low"] > 0),
    }


# ----------------------------------------------------------------------------------------------
# report: Markdown table, JSON, PNG


def markdown_table(report: dict[str, Any]) -> str:
    rows = ["| part | chord fit (triad) | chord fit (full chord) | onsets / bar | x true | polyphony | x true | rhythm sim. | voicing sim. | **texture sim.** |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for method, f in report["figures"].items():
        texture = f"{f['texture_similarity']:.3f}" if method != "true piano" else "(1)"
        rows.append(f"| {method} | {f['chord_fit_triad']:.3f} | {f['chord_fit_full']:.3f} | {f['onsets_per_bar']:.1f} | {f['onsets_ratio_to_true']:.2f} | "
                    f"{f['polyphony']:.2f} | {f['polyphony_ratio_to_true']:.2f} | {f['rhythm_similarity']:.3f} | {f['voicing_similarity']:.3f} | {texture} |")
    lines = [*rows, "", *comparison_lines("model", report["texture_similarity_model_minus"])]
    g = report.get("generation_ms") or {}
    if g:
        lines.append(f"- generating one bar: mean {g['mean']:.1f} ms, p99 {g['p99']:.1f} ms, max {g['max']:.1f} ms ({g['torch_threads']} torch thread(s), this CPU)")
    lines.append(checks_line(report["checks"]))
    return "\n".join(lines)


def comparison_lines(subject: str, comparisons: dict[str, dict[str, float]]) -> list[str]:
    """One Markdown bullet per baseline: the texture-similarity difference and its bootstrap interval."""
    return [f"- texture similarity, {subject} minus {other}: {c['model_minus_other']:+.3f} (95 % interval over songs {c['ci95_low']:+.3f} .. {c['ci95_high']:+.3f})"
            for other, c in comparisons.items()]


def checks_line(checks: dict[str, bool]) -> str:
    """The issue's bars as one Markdown bullet: each named, yes or **no**."""
    return "- bars of the issue: " + ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else '**no**'}" for k, v in checks.items())


def plot_excerpt(png: Path, song: SongBars, parts: dict[str, list[np.ndarray]], first_bar: int, bars: int = 8) -> Path:
    """Piano rolls of an excerpt: the true part, the model's and the baselines' (melody in grey, chord names on top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in ("true piano", "model", "block triads", "random bar") if m in parts]
    span = range(first_bar, min(first_bar + bars, len(song.bars)))
    fig, axes = plt.subplots(len(shown), 1, figsize=(13, 2.3 * len(shown)), sharex=True, squeeze=False)
    for ax, method in zip(axes[:, 0], shown):
        for k, i in enumerate(span):
            x0 = k * STEPS_PER_BAR
            for onset, pitch, duration, velocity in parts[method][i]:
                ax.add_patch(plt.Rectangle((x0 + onset, pitch - 0.4), duration - 0.1, 0.8, color=plt.cm.viridis(velocity / 127)))
            bar = song.bars[i]
            for s in range(STEPS_PER_BAR):
                if bar.melody_pitch[s]:
                    ax.plot([x0 + s, x0 + s + 1], [bar.melody_pitch[s]] * 2, color="0.6", lw=2)
                if method == shown[0] and (s == 0 or bar.chords[s] != bar.chords[s - 1]):
                    ax.text(x0 + s, 1.02, class_label(int(bar.chords[s])), transform=ax.get_xaxis_transform(), fontsize=7)
            ax.axvline(x0, color="0.85", lw=0.8)
        ax.set_ylim(30, 90)
        ax.set_ylabel(f"{method}\nMIDI pitch", fontsize=8)
    axes[-1, 0].set_xlim(0, len(span) * STEPS_PER_BAR)
    axes[-1, 0].set_xlabel(f"16th steps from bar {first_bar} of held-out song {song.name} (melody in grey)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def write_report(report: dict[str, Any], out_dir: Path, songs: list[SongBars]) -> tuple[Path, Path, Path]:
    """evaluation.json, evaluation.md and evaluation.png (excerpt of the held-out song with most bars, from bar 16)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = report.pop("_parts")
    json_path, md_path, png_path = out_dir / "evaluation.json", out_dir / "evaluation.md", out_dir / "evaluation.png"
    write_json(json_path, report)
    md_path.write_text(markdown_table(report) + "\n", encoding="utf-8")
    song = max(songs, key=lambda s: len(s.bars))
    first = min(16, max(0, len(song.bars) - 8))
    plot_excerpt(png_path, song, parts[song.name], first)
    report["_parts"] = parts
    return json_path, md_path, png_path


def card_text(report: dict[str, Any], command: str) -> str:
    f = report["figures"]
    return "\n".join([
        f"{len(report['songs'])} held-out POP909 songs (SHA-1 rule), {report['bars']} bars of 4 beats, free-running: each bar from the true chords",
        "and melody and the model's own previous bar; sampling as the model's default ("
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report["sampling"].items()) + f"), seed {report['seed']}.",
        f"`{command or 'antiphon evaluate-texture --model ... --pop909 ... --update-card'}`; definitions in agent/arranger/texture_eval.py; plot `evaluation.png`.",
        "",
        markdown_table(report),
        "",
        f"The true part's own chord fit is {f['true piano']['chord_fit_full']:.3f} against the full annotated chord and "
        f"{f['true piano']['chord_fit_triad']:.3f} against its majmin triad (the only chord the model is given).",
    ])


def evaluate_folder(model_dir: Path, pop909: Path, out_dir: Path, seed: int = 0, songs_limit: int = 0) -> dict[str, Any]:
    """Load the model, read the held-out and pool songs, evaluate, write the report into ``out_dir``."""
    from agent.arranger.texture_model import load_texture_model
    from agent.arranger.bars import read_song_bars, song_folders
    from agent.demo.make_pairs import is_heldout
    from agent.errors import AntiphonError

    bundle = load_texture_model(model_dir)
    torch.set_num_threads(1)  # as the arranger runs it: one core, beside the audio
    folders = song_folders(pop909)
    if songs_limit:
        folders = folders[:songs_limit]
    heldout = [f for f in folders if is_heldout(f.name)]
    if not heldout:
        raise AntiphonError(f"{pop909}: none of its songs is held out (SHA-1 of the name % 10 == 0): nothing to evaluate on")
    fit_names = set(bundle.meta.get("training", {}).get("fit_songs", []))
    candidates = [f for f in folders if not is_heldout(f.name) and (not fit_names or f.name in fit_names)]
    order = np.random.default_rng(seed).permutation(len(candidates))
    pool_folders = [candidates[i] for i in sorted(order[:POOL_SONGS])]
    songs = read_song_bars(heldout, "reading held-out songs")
    pool = read_song_bars(pool_folders, "reading random-bar pool")
    if not songs or not pool:
        raise AntiphonError(f"{pop909}: no bars of 4 beats in the {'held-out' if not songs else 'training'} songs")
    report = evaluate_songs(bundle.model, songs, pool, bundle.sampling, seed)
    report["model"] = str(bundle.path)
    report["pop909"] = Path(pop909).name  # the folder's name: where it lies is this machine's business
    report["random_bar_pool_songs"] = [s.name for s in pool]
    write_report(report, Path(out_dir), songs)
    report.pop("_parts")
    return report
