"""Loops cut from POP909 (``make-loops --pop909 DIR/POP909``): the piano accompaniment of ``bars``
bars of a song, on its beat annotations, as a loop of known tempo.

POP909 is not shipped (MIT licence; the public repository music-x-lab/POP909-Dataset). For loop i a
song is taken in turn and a window of ``bars`` bars drawn by the seed among its downbeats, where the
annotation has exactly four beats per bar and the tempo (from the window's mean beat period) lies in
``bpm_low..bpm_high``; the PIANO track's notes in the window are placed on its beats (in quarter
notes, so the loop is played strictly in time at that tempo) and rendered three times in a row with
a piano or an electric piano, the middle repetition kept (agent/loops/loop_set.py). Whole songs are
held out (SHA-1 of the song's name % 10 == 0), so no held-out loop shares a song with a training one.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.arranger.songs import Song, read_song
from agent.demo.make_pairs import is_heldout
from agent.errors import AntiphonError
from agent.files import json_object_or_none, write_json
from agent.loops.loop_set import INDEX_FILE, LoopSetConfig, Note, render_repeated

log = logging.getLogger(__name__)

PROGRAMS = (0, 4, 5)  # acoustic grand, two electric pianos
MIN_NOTES = 4


def song_folders(pop909_dir: Path) -> list[Path]:
    pop909_dir = Path(pop909_dir)
    if not pop909_dir.is_dir():
        raise AntiphonError(f"POP909 folder {pop909_dir} does not exist (clone music-x-lab/POP909-Dataset and pass its POP909 folder)")
    folders = sorted(p for p in pop909_dir.iterdir() if (p / f"{p.name}.mid").is_file())
    if not folders:
        raise AntiphonError(f"{pop909_dir}: no POP909 song folders (NNN/NNN.mid)")
    return folders


def windows(song: Song, bars: int, bpm_low: float, bpm_high: float) -> list[tuple[int, float]]:
    """(index of the first beat, bpm) of every window of ``bars`` 4/4 bars starting on a downbeat at a tempo in range."""
    beats = 4 * bars
    out = []
    for d in np.flatnonzero(song.downbeats):
        if d + beats >= len(song.beats):
            continue
        if set(d + np.flatnonzero(song.downbeats[d : d + beats + 1])) != {d + 4 * k for k in range(bars + 1)}:
            continue  # not exactly four beats in each bar
        period = float(np.mean(np.diff(song.beats[d : d + beats + 1])))
        bpm = 60.0 / period
        if bpm_low <= bpm <= bpm_high:
            out.append((int(d), bpm))
    return out


def window_notes(song: Song, first_beat: int, bars: int) -> list[Note]:
    """The PIANO notes starting in the window, in quarter notes from its first beat (placed on the beats)."""
    grid = song.beats[first_beat : first_beat + 4 * bars + 1]
    steps = np.arange(len(grid), dtype=np.float64)
    piano = song.notes["piano"]
    keep = (piano[:, 0] >= grid[0] - 0.02) & (piano[:, 0] < grid[-1] - 0.02)
    notes = []
    for onset, duration, pitch, velocity in piano[keep]:
        q = float(np.interp(onset, grid, steps))
        end = float(np.interp(onset + duration, grid, steps, right=steps[-1]))
        notes.append((max(q, 0.0), max(min(end, steps[-1]) - max(q, 0.0), 0.05), int(pitch), int(velocity)))
    return notes


def pop909_plans(pop909_dir: Path, config: LoopSetConfig) -> list[tuple[str, dict[str, Any], list[Note]]]:
    """(name, plan, notes) of each loop: songs in turn, a window drawn per loop (songs with none are skipped)."""
    folders = song_folders(pop909_dir)
    out: list[tuple[str, dict[str, Any], list[Note]]] = []
    cache: dict[str, tuple[Song, list[tuple[int, float]]]] = {}
    i = 0
    for attempt in range(config.loops * 4):
        if len(out) == config.loops:
            break
        folder = folders[attempt % len(folders)]
        if folder.name not in cache:
            song = read_song(folder)
            cache[folder.name] = (song, windows(song, config.bars, config.bpm_low, config.bpm_high))
        song, choices = cache[folder.name]
        if not choices:
            continue
        rng = np.random.default_rng([config.seed, i])
        first, bpm = choices[int(rng.integers(len(choices)))]
        notes = window_notes(song, first, config.bars)
        if len(notes) < MIN_NOTES:
            continue
        bpm = round(bpm, 1)
        plan = {"kind": "pop909", "song": song.name, "first_beat": first, "bpm": bpm, "bars": config.bars,
                "program": int(rng.choice(PROGRAMS)), "seed": [config.seed, i]}
        out.append((f"{i:04d}-pop909-{song.name}-{bpm:g}bpm", plan, notes))
        i += 1
    return out


def make_pop909_loop_set(pop909_dir: Path, out_dir: Path, config: LoopSetConfig, soundfont: Path, workers: int = 2) -> list[str]:
    """Render ``config.loops`` POP909 loops into ``out_dir`` (rendered ones are kept); returns their names."""
    out_dir = Path(out_dir)
    plans = pop909_plans(pop909_dir, config)
    if not plans:
        raise AntiphonError(f"{pop909_dir}: no window of {config.bars} 4/4 bars at {config.bpm_low:g}..{config.bpm_high:g} bpm in any song")
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[str, dict[str, Any], list[Note]]) -> None:
        name, plan, notes = item
        sidecar = {**plan, "notes": len(notes), "sample_rate_hz": config.sample_rate_hz, "soundfont": Path(soundfont).name, "name": name}
        if (out_dir / f"{name}.wav").is_file() and json_object_or_none(out_dir / f"{name}.json") == sidecar:
            return
        (out_dir / f"{name}.json").unlink(missing_ok=True)
        render_repeated(out_dir / f"{name}.wav", [(plan["program"], notes)], plan["bars"], plan["bpm"], soundfont, config.sample_rate_hz)
        write_json(out_dir / f"{name}.json", sidecar)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(tqdm(pool.map(one, plans), total=len(plans), desc="rendering POP909 loops", unit="loop", disable=None))
    names = [name for name, _, _ in plans]
    heldout = [name for name, plan, _ in plans if is_heldout(plan["song"])]
    write_json(out_dir / INDEX_FILE, {"config": asdict(config), "source": "POP909", "soundfont": Path(soundfont).name, "loops": names,
                                      "heldout": heldout, "rule": "sha1(song) % 10 == 0"})
    log.info("POP909 loop set: %d loops from %d songs (%d held out) in %s", len(names), len({p["song"] for _, p, _ in plans}), len(heldout), out_dir)
    return names
