"""`antiphon make-song-set`: POP909 songs rendered as the arranger hears them, with their scores.

Each chosen song becomes ``<out>/<NNN>/`` (and ``<NNN>@v<i>`` for further renderings):
``mix.flac`` (melody, bridge and piano together: *song* mode, as in Wang et al. 2022) and
``melody.flac`` (the melody alone: *performer* mode), rendered with fluidsynth, and ``score.json``
with the plan and the truth on the rendered time line: each part's notes, beats, downbeats and
chords. Every rendering draws (seeded by song and variant) a transposition, a tempo change and GM
programs; the first rendering of a song is in its own key and tempo. A rendering whose score
matches the request is not rendered again. Held out: SHA-1 of the song name is 0 mod 10 (every
rendering of a song alike; ``split.json``).

Get POP909 from its public repository (github.com/music-x-lab/POP909-Dataset, MIT licence) and pass
its ``POP909`` folder (``NNN/NNN.mid``, ``beat_midi.txt``, ``chord_midi.txt``).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.arranger.songs import PARTS, Song, read_song
from agent.demo.make_pairs import SCORE_FILE, is_heldout
from agent.demo.pop909 import prepare_rendering
from agent.demo.render import render_parts
from agent.errors import AntiphonError, require
from agent.files import read_json_object, write_json
from agent.pairs import SPLIT_FILE, VARIANT_MARK

log = logging.getLogger(__name__)

PROGRAMS = {
    "melody": (73, 71, 40, 65, 56, 68, 53, 80, 81),  # flute, clarinet, violin, alto sax, trumpet, oboe, voice oohs, square and saw leads
    "bridge": (11, 48, 89, 61, 69, 42, 52),  # vibraphone, strings, warm pad, brass section, English horn, cello, choir aahs
    "piano": (0, 1, 4, 2, 5),  # acoustic grand, bright acoustic, electric piano 1, electric grand, electric piano 2
}
PART_LEVELS = {"melody": 1.0, "bridge": 0.7, "piano": 0.8}  # velocity scale of each part in the mix
TRANSPOSE_RANGE = (-5, 6)
TIME_SCALE_RANGE = (0.85, 1.18)
TAIL_S = 1.0
RENDERS = {"mix": PARTS, "melody": ("melody",)}  # file stem -> parts heard in it


@dataclass(frozen=True)
class SongSetConfig:
    """Which songs, how much of each, how many renderings."""

    songs: int = 909
    seconds: float = 0.0  # 0: the whole song; else a window from the first downbeat
    variants: int = 1
    seed: int = 0
    sample_rate_hz: int = 22_050

    def __post_init__(self) -> None:
        require([
            (1 <= self.songs <= 909, f"songs must be 1..909, got {self.songs}"),
            (self.seconds == 0 or 10.0 <= self.seconds <= 900.0, f"seconds must be 0 (whole songs) or 10..900, got {self.seconds}"),
            (1 <= self.variants <= 8, f"variants must be 1..8, got {self.variants}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
            (8000 <= self.sample_rate_hz <= 96_000, f"sample_rate_hz must be 8000..96000, got {self.sample_rate_hz}"),
        ], "song set: ")


def rendering_plan(song: Song, config: SongSetConfig, variant: int) -> dict[str, Any]:
    """What one rendering plays: transposition, tempo scale, programs, and the score on its time line."""
    rng = np.random.default_rng([config.seed, int(song.name) if song.name.isdigit() else 0, variant])
    shift = 0 if variant == 0 else int(rng.integers(TRANSPOSE_RANGE[0], TRANSPOSE_RANGE[1] + 1))
    scale = 1.0 if variant == 0 else round(float(rng.uniform(*TIME_SCALE_RANGE)), 3)
    programs = {part: int(rng.choice(PROGRAMS[part])) for part in PARTS}
    played = song.transformed(shift, scale)
    start = float(played.beats[played.downbeats][0]) if played.downbeats.any() else 0.0
    end = start + config.seconds if config.seconds else played.duration_s
    played = played.window(start, end)
    duration = (config.seconds if config.seconds else end - start) + TAIL_S
    return {
        "song": song.name, "variant": variant, "seed": config.seed, "sample_rate_hz": config.sample_rate_hz, "duration_s": round(duration, 4),
        "start_in_song_s": round(start / scale, 4), "transpose_semitones": shift, "time_scale": scale, "programs": programs,
        "notes": {part: np.round(n, 4).tolist() for part, n in played.notes.items()},
        "beats": np.round(played.beats, 4).tolist(), "downbeats": played.downbeats.astype(int).tolist(),
        "chords": [[round(a, 4), round(b, 4), c] for a, b, c in played.chords],
    }


def piece_name(song: str, variant: int) -> str:
    return song if variant == 0 else f"{song}{VARIANT_MARK}v{variant}"


def make_song_set(source_dir: Path, out_dir: Path, config: SongSetConfig, soundfont: Path | None = None, workers: int | None = None) -> list[str]:
    """Write (or complete) a song set from POP909; returns the rendering names."""
    soundfont, songs, out_dir = prepare_rendering(source_dir, out_dir, config.songs, soundfont)
    plans: dict[str, dict] = {}
    for folder in tqdm(songs, desc="reading POP909 songs", unit="song", disable=None):
        song = read_song(folder)
        if not song.chords or not len(song.notes["melody"]) or not len(song.notes["piano"]) or not song.downbeats.any():
            log.warning("song %s has no chords, melody, piano or downbeat; skipped", song.name)
            continue
        for variant in range(config.variants):
            plans[piece_name(song.name, variant)] = rendering_plan(song, config, variant)
    jobs = [name for name, plan in plans.items() if not _is_cached(out_dir / name, plan)]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = [pool.submit(_render, out_dir / name, plans[name], Path(soundfont)) for name in jobs]
        for future in tqdm(as_completed(futures), total=len(futures), desc="rendering songs", unit="song", disable=None):
            future.result()
    present = sorted(p.name for p in out_dir.iterdir() if (p / SCORE_FILE).is_file())  # earlier runs' renderings too
    heldout = [n for n in present if is_heldout(n)]
    write_json(out_dir / SPLIT_FILE, {"rule": "sha1(song name) % 10 == 0, every rendering of a song alike", "heldout": heldout,
                                      "train": [n for n in present if n not in heldout]})
    write_json(out_dir / "song-set.json", {"made_by": "antiphon make-song-set", "config": asdict(config), "soundfont": Path(soundfont).name})
    log.info("song set: %d renderings (%d held out) in %s", len(present), len(heldout), out_dir)
    return sorted(plans)


def _is_cached(folder: Path, plan: dict) -> bool:
    if not (folder / SCORE_FILE).is_file() or not all((folder / f"{stem}.flac").is_file() for stem in RENDERS):
        return False
    try:
        return read_json_object(folder / SCORE_FILE, "song score") == plan
    except AntiphonError:
        return False


def _render(folder: Path, plan: dict, soundfont: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SCORE_FILE).unlink(missing_ok=True)  # written last: a half-rendered folder is never taken as done
    for stem, parts in RENDERS.items():
        tracks = [(plan["programs"][part], [(a, d, int(p), int(round(v * PART_LEVELS[part]))) for a, d, p, v in plan["notes"][part]]) for part in parts]
        render_parts(folder / f"{stem}.flac", tracks, plan["duration_s"], plan["sample_rate_hz"], soundfont)
    write_json(folder / SCORE_FILE, plan)


def read_score(folder: Path) -> dict[str, Any]:
    """A rendering's score.json (one-line error if it is missing or not a song score)."""
    score = read_json_object(Path(folder) / SCORE_FILE, "song score")
    missing = [k for k in ("notes", "beats", "downbeats", "chords", "sample_rate_hz") if k not in score]
    if missing:
        raise AntiphonError(f"{Path(folder) / SCORE_FILE}: not a song score (no {missing[0]})")
    return score


def score_song(score: dict[str, Any], name: str) -> Song:
    """The true song of a rendering (its score.json, on the rendered time line)."""
    notes = {part: np.asarray(n, dtype=np.float64).reshape(-1, 4) for part, n in score["notes"].items()}
    return Song(name=name, notes=notes, beats=np.asarray(score["beats"], float), downbeats=np.asarray(score["downbeats"], bool),
                chords=[(float(a), float(b), str(c)) for a, b, c in score["chords"]])
