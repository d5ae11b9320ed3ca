"""The live arranger rehearsed on held-out POP909 renderings: timing, speed and how its bars fit the song.

    python bench/arranger_live.py [--song-set corpora/pop909-songs] [--songs 20] [--seconds 90]
                                  [--tempo given|follow] [--mode song|performer] [--chords-model DIR] [--no-forecast]
                                  [--split heldout|training]

Each held-out rendering (its mix in song mode, its melody alone in performer mode) is pushed through
the live arranger agent on a file clock (the engine's rehearsal driver: the same code that runs
live), with the tempo followed from the input or given (the rendering's annotated median tempo).
Prints per song and over all:

- **decided ahead**: how long before its start each bar was decided (min and 1st percentile; the
  issue asks >= 200 ms at 120 bpm, p99);
- **compute per chunk**: p50 / p99 (ms) of a chunk's whole step (hearing, beats, a bar's texture
  and synthesis when one is due) against the 100 ms chunk;
- **speed**: input duration / wall time (issue: a 3-minute song rehearsed >= 10x real time);
- **tempo**: the bars' tempo against the annotated one: same (within 4 %), double, half or other;
- **bar lines**: share of bar starts within 70 ms of an annotated downbeat, and of any beat;
- **chords**: share of bars whose chord is the true chord at the bar's middle, and (what one bar of
  anticipation hopes for at best with a held chord) the true chord of the bar before; and the
  played notes' chord fit: the share of their sounding time (at their own times, 20 ms steps) in
  the true chord's pitch classes. `evaluate-arranger` scores the offline arranger 0.908 on the same
  idea but with its notes laid on the song's true bars, which forgives timing: the live figure is the
  stricter one.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from agent import paths
from agent.arranger.bars import chord_tone_frames
from agent.arranger.frame_data import song_set_split
from agent.engine.arranger_agent import ArrangerConfig, load_arranger
from agent.arranger.song_set import read_score
from agent.arranger.songs import chord_class
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.arranger_rehearsal import announced_notes
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import run_rehearsal

RATE_HZ = 48_000
NEAR_S = 0.07


def chord_fit(notes: np.ndarray, chords: list, step_s: float = 0.02) -> tuple[float, float]:
    """(time in the chord's pitch classes, time sounding), over 20 ms steps of every note."""
    inside = total = 0.0
    for onset, duration, pitch in notes:
        times = onset + np.arange(0.0, duration, step_s)
        tones = chord_tone_frames(chords, times)
        named = tones.any(axis=1)
        inside += float(tones[named, int(pitch) % 12].sum())
        total += float(named.sum())
    return inside, total


def chord_at(chords: list, t: float) -> int:
    for a, b, label in chords:
        if a <= t < b:
            return chord_class(label)
    return 0


def bench_song(folder: Path, mode: str, tempo: str, seconds: float, chords_model: Path | None, forecast: bool) -> dict:
    score = read_score(folder)
    beats = np.asarray(score["beats"], float)
    downbeats = beats[np.asarray(score["downbeats"], bool)]
    true_bpm = 60.0 / float(np.median(np.diff(beats)))
    config = ArrangerConfig(mode=mode, tempo_bpm=round(true_bpm, 2) if tempo == "given" else 0.0)
    agent = load_arranger(config, EngineConfig(), RATE_HZ, chords=chords_model, forecast=None if forecast else False)
    agent.warm_up()
    audio, _ = read_mono(folder / ("mix.flac" if mode == "song" else "melody.flac"), rate_hz=PERCEPTION_RATE_HZ)
    audio = audio[: int(seconds * PERCEPTION_RATE_HZ)]
    result = run_rehearsal(agent, audio)
    bars = [b for b in agent.decisions if b.end_s <= len(audio) / PERCEPTION_RATE_HZ]
    chords = [(float(a), float(b), str(c)) for a, b, c in score["chords"]]
    out = {"song": folder.name, "input_s": result.input_s, "wall_s": result.wall_s, "bars": len(bars), "true_bpm": true_bpm,
           "compute_ms": [1e3 * s.compute_s for s in result.steps], "ahead_s": [b.ahead_s for b in agent.decisions]}
    if not bars:
        return {**out, "tempo": "none"}
    bpm = float(np.median([b.bpm for b in bars]))
    ratio = bpm / true_bpm
    out["tempo"] = next((name for name, r in (("same", 1.0), ("double", 2.0), ("half", 0.5)) if abs(ratio / r - 1) < 0.04), "other")
    starts = np.array([b.start_s for b in bars])
    out["on_downbeat"] = float(np.mean([np.min(np.abs(downbeats - s)) < NEAR_S for s in starts]))
    out["on_beat"] = float(np.mean([np.min(np.abs(beats - s)) < NEAR_S for s in starts]))
    sounding = [b for b in bars if b.chord != 0]
    out["chord_now"] = [int(b.chord == chord_at(chords, 0.5 * (b.start_s + b.end_s))) for b in sounding]
    out["chord_before"] = [int(b.chord == chord_at(chords, b.start_s - 0.5 * (b.end_s - b.start_s))) for b in sounding]
    out["fit"] = chord_fit(np.array([(a, d, p) for a, d, p, _ in announced_notes(result)]).reshape(-1, 3), chords)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--song-set", type=Path, default=paths.CORPORA_DIR / "pop909-songs")
    parser.add_argument("--songs", type=int, default=20, help="held-out renderings to rehearse (0: all)")
    parser.add_argument("--seconds", type=float, default=90.0, help="the first seconds of each")
    parser.add_argument("--tempo", choices=("follow", "given"), default="follow")
    parser.add_argument("--mode", choices=("song", "performer"), default="song")
    parser.add_argument("--chords-model", type=Path, default=None, help="performer mode: the harmoniser (default: the shipped one)")
    parser.add_argument("--no-forecast", action="store_true", help="play the chord heard in the bar before (no next-bar chord forecast)")
    parser.add_argument("--split", choices=("heldout", "training"), default="heldout", help="which songs (settings are chosen on training songs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)  # as live: one thread for the worker
    training, heldout = song_set_split(args.song_set)
    pool = heldout if args.split == "heldout" else [n for n in training if "@" not in n]
    names = pool[: args.songs] if args.songs else pool
    rows = []
    for name in names:
        row = bench_song(args.song_set / name, args.mode, args.tempo, args.seconds, args.chords_model, not args.no_forecast)
        rows.append(row)
        fit = row.get("fit", (0.0, 0.0))
        print(f"{name}: {row['bars']:3d} bars  tempo {row['tempo']:6s} ({row['true_bpm']:.0f} bpm)  "
              f"downbeats {row.get('on_downbeat', 0):.2f}  beats {row.get('on_beat', 0):.2f}  "
              f"chord now {np.mean(row.get('chord_now') or [0]):.2f} before {np.mean(row.get('chord_before') or [0]):.2f}  "
              f"fit {fit[0] / max(fit[1], 1e-9):.3f}  ahead min {1e3 * min(row['ahead_s'] or [0]):.0f} ms  "
              f"speed {row['input_s'] / row['wall_s']:.1f}x", flush=True)
    ahead = np.concatenate([r["ahead_s"] for r in rows if r["ahead_s"]])
    compute = np.concatenate([r["compute_ms"] for r in rows])
    fits = np.array([r["fit"] for r in rows if "fit" in r])
    played = [r for r in rows if r["bars"]]
    summary = {
        "songs": len(rows), "split": args.split, "mode": args.mode, "tempo_from": args.tempo, "forecast": not args.no_forecast, "seconds_each": args.seconds,
        "bars": int(sum(r["bars"] for r in rows)),
        "decided_ahead_ms": {"min": round(1e3 * float(ahead.min()), 1), "p1": round(1e3 * float(np.percentile(ahead, 1)), 1)},
        "compute_ms": {"p50": round(float(np.percentile(compute, 50)), 2), "p99": round(float(np.percentile(compute, 99)), 2), "hop": 100.0},
        "speed_x_realtime": round(sum(r["input_s"] for r in rows) / sum(r["wall_s"] for r in rows), 1),
        "tempo": {k: sum(r["tempo"] == k for r in rows) for k in ("same", "double", "half", "other", "none")},
        "bar_starts_on_downbeat": round(float(np.mean([r["on_downbeat"] for r in played])), 3) if played else None,
        "bar_starts_on_beat": round(float(np.mean([r["on_beat"] for r in played])), 3) if played else None,
        "bar_chord_is_true_chord": round(float(np.mean(np.concatenate([r["chord_now"] for r in played]))), 3) if played else None,
        "bar_chord_is_previous_bars": round(float(np.mean(np.concatenate([r["chord_before"] for r in played]))), 3) if played else None,
        "chord_fit": round(float(fits[:, 0].sum() / max(fits[:, 1].sum(), 1e-9)), 3) if len(fits) else None,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
