"""`antiphon make-pop909-pairs`: POP909 songs rendered to a pairs folder (melody -> piano).

POP909 (Wang et al., ISMIR 2020; MIT licence) holds 909 pop songs as MIDI with three tracks:
MELODY (the lead vocal line), BRIDGE and PIANO (the piano accompaniment). Get it from the
dataset's public repository (music-x-lab/POP909-Dataset on GitHub) and pass its ``POP909`` folder
(``NNN/NNN.mid``). Each chosen song becomes ``<out>/<NNN>/melody.flac`` (a lead instrument)
and ``piano.flac`` (a piano), rendered with fluidsynth, over a window of ``seconds`` from its
first melody note, both transposed by the same seeded shift so the corpus is not in the songs'
own keys alone. ``score.json`` records the plan and the notes; a song whose score matches the
request is not rendered again. Held out: SHA-1 of the folder name is 0 mod 10 (``split.json``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import mido
import numpy as np
from tqdm import tqdm

from agent import paths
from agent.demo.make_pairs import SCORE_FILE, is_heldout
from agent.demo.pop909_config import Pop909PairsConfig
from agent.demo.render import fluidsynth_path, render_voice
from agent.errors import AntiphonError
from agent.files import read_json_object, write_json
from agent.pairs import SPLIT_FILE

log = logging.getLogger(__name__)

TRACKS = {"melody": "MELODY", "piano": "PIANO"}  # stem -> POP909 track name
PROGRAMS = {
    "melody": (73, 71, 40, 65, 56, 68, 53),  # flute, clarinet, violin, alto sax, trumpet, oboe, voice oohs
    "piano": (0, 1, 4, 2),  # acoustic grand, bright acoustic, electric piano 1, electric grand
}
TRANSPOSE_RANGE = (-3, 3)
TAIL_S = 1.0

Note = tuple[float, float, int]  # onset (s), duration (s), MIDI pitch


def song_tracks(midi_path: Path) -> dict[str, list[Note]]:
    """Notes of the MELODY and PIANO tracks in seconds (the file's tempo map applied)."""
    return {stem: [(a, d, int(p)) for a, d, p, _ in notes.tolist()] for stem, notes in read_tracks(midi_path, TRACKS).items()}


def read_tracks(midi_path: Path, tracks: dict[str, str]) -> dict[str, np.ndarray]:
    """Notes of the named tracks (``{key: track name}``) as float64 [n, 4] (onset s, duration s, MIDI
    pitch, velocity), sorted; the file's tempo map applied (one-line errors)."""
    try:
        midi = mido.MidiFile(str(midi_path))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise AntiphonError(f"{midi_path}: not a readable MIDI file ({exc})") from exc
    by_name = {t.name.strip().upper(): t for t in midi.tracks}
    conductor = [m for m in midi.tracks[0] if m.is_meta and m.type in ("set_tempo", "time_signature")]
    out: dict[str, np.ndarray] = {}
    for key, name in tracks.items():
        if name not in by_name:
            raise AntiphonError(f"{midi_path}: no {name} track (POP909 songs have MELODY, BRIDGE and PIANO)")
        single = mido.MidiFile(type=1, ticks_per_beat=midi.ticks_per_beat)
        single.tracks.append(mido.MidiTrack(conductor))
        single.tracks.append(by_name[name])
        now, sounding, notes = 0.0, {}, []
        for msg in single:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[msg.note] = (now, msg.velocity)
            elif msg.type in ("note_off", "note_on") and msg.note in sounding:
                start, velocity = sounding.pop(msg.note)
                if now > start:
                    notes.append((start, now - start, msg.note, velocity))
        out[key] = np.array(sorted(notes), dtype=np.float64).reshape(-1, 4)
    return out


def window(tracks: dict[str, list[Note]], seconds: float, shift: int) -> tuple[dict[str, list[Note]], float]:
    """The notes of ``seconds`` from 0.5 s before the first melody note, re-timed from 0, transposed."""
    start = max(0.0, tracks["melody"][0][0] - 0.5) if tracks["melody"] else 0.0
    end = start + seconds
    cut: dict[str, list[Note]] = {}
    for stem, notes in tracks.items():
        cut[stem] = [
            (round(a - start, 4), round(min(d, end - a), 4), int(np.clip(p + shift, 0, 127)))
            for a, d, p in notes
            if start <= a < end
        ]
    return cut, seconds + TAIL_S


def song_folders(source_dir: Path) -> list[Path]:
    root = Path(source_dir)
    if not root.is_dir():
        raise AntiphonError(f"POP909 folder {root} does not exist (unpack the dataset and pass its POP909 folder)")
    songs = sorted(p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())
    if not songs:
        raise AntiphonError(f"{root} holds no POP909 song folders (NNN/NNN.mid)")
    return songs


def prepare_rendering(source_dir: Path, out_dir: Path, songs: int, soundfont: Path | None) -> tuple[Path, list[Path], Path]:
    """Before rendering POP909 songs: (the soundfont, the first ``songs`` song folders, the output
    folder, made); one-line errors without a soundfont, fluidsynth or songs."""
    soundfont = soundfont or paths.default_soundfont()
    if soundfont is None or not Path(soundfont).is_file():
        raise AntiphonError("no General MIDI soundfont found; install fluid-soundfont-gm")
    fluidsynth_path()
    folders = song_folders(source_dir)[:songs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(soundfont), folders, out_dir


def make_pop909_pairs(source_dir: Path, out_dir: Path, config: Pop909PairsConfig, soundfont: Path | None = None, workers: int | None = None) -> list[str]:
    """Write (or complete) a melody -> piano pairs folder from POP909; returns the song names."""
    soundfont, songs, out_dir = prepare_rendering(source_dir, out_dir, config.songs, soundfont)
    plans: dict[str, dict] = {}
    jobs: list[tuple[str, str]] = []
    for song in songs:
        rng = np.random.default_rng([config.seed, int(song.name) if song.name.isdigit() else 0])
        shift = int(rng.integers(TRANSPOSE_RANGE[0], TRANSPOSE_RANGE[1] + 1))
        notes, duration = window(song_tracks(song / f"{song.name}.mid"), config.seconds, shift)
        if not notes["melody"] or not notes["piano"]:
            log.warning("song %s has no melody or no piano in its first %.0f s; skipped", song.name, config.seconds)
            continue
        plans[song.name] = {
            "song": song.name, "sample_rate_hz": config.sample_rate_hz, "duration_s": duration, "transpose_semitones": shift,
            "programs": {s: int(rng.choice(PROGRAMS[s])) for s in TRACKS}, "velocity": int(rng.integers(85, 111)), "seed": config.seed,
            "notes": {s: [list(n) for n in v] for s, v in notes.items()},
        }
        if not _is_cached(out_dir / song.name, plans[song.name]):
            jobs += [(song.name, stem) for stem in TRACKS]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = [pool.submit(_render, out_dir / name, plans[name], stem, Path(soundfont)) for name, stem in jobs]
        for future in tqdm(as_completed(futures), total=len(futures), desc="rendering POP909 stems", unit="stem", disable=None):
            future.result()
    for name in sorted({n for n, _ in jobs}):
        write_json(out_dir / name / SCORE_FILE, plans[name])
    names = sorted(plans)
    present = sorted(p.name for p in out_dir.iterdir() if (p / SCORE_FILE).is_file())  # earlier runs' songs too
    heldout = heldout_songs(present)
    write_json(out_dir / SPLIT_FILE, {"rule": HELDOUT_RULE, "heldout": heldout, "train": [n for n in present if n not in heldout]})
    write_json(out_dir / "pop909.json", {"made_by": "antiphon make-pop909-pairs", "config": asdict(config), "soundfont": Path(soundfont).name})
    log.info("POP909 pairs: %d songs (%d held out) in %s", len(names), len(heldout), out_dir)
    return names


HELDOUT_RULE = "sha1(song folder name) % 10 == 0; at least two: then the songs of smallest sha1"


def heldout_songs(names: list[str]) -> list[str]:
    """Held-out songs: a stable rule on the name, topped up to two by the smallest SHA-1 values."""
    heldout = {n for n in names if is_heldout(n)}
    if len(names) >= 4:
        for name in sorted(names, key=lambda n: hashlib.sha1(n.encode()).hexdigest()):
            if len(heldout) >= 2:
                break
            heldout.add(name)
    return sorted(heldout)


def _is_cached(folder: Path, plan: dict) -> bool:
    if not (folder / SCORE_FILE).is_file() or not all((folder / f"{s}.flac").is_file() for s in TRACKS):
        return False
    try:
        return read_json_object(folder / SCORE_FILE, "POP909 score") == plan
    except AntiphonError:
        return False


def _render(folder: Path, plan: dict, stem: str, soundfont: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SCORE_FILE).unlink(missing_ok=True)
    notes = [(a, d, p) for a, d, p in plan["notes"][stem]]  # seconds = quarter notes at 60 bpm
    render_voice(folder / f"{stem}.flac", notes, bpm=60.0, program=plan["programs"][stem], velocity=plan["velocity"],
                 duration_s=plan["duration_s"], rate_hz=plan["sample_rate_hz"], soundfont=soundfont)
