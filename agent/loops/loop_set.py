"""Loops with a known tempo, rendered here: the loop generator's training data (issue 16).

Each loop is ``bars`` bars of 4/4 at a tempo drawn in ``bpm_low``..``bpm_high``, written as MIDI by
seeded pattern generators and rendered with fluidsynth and a GM soundfont:

- ``drums``: house (four on the floor, off-beat open hats, claps on 2 and 4), techno (four on the
  floor, 16th hats, rim shots off the beat) or pop (kick on 1 and 3 with a pickup, snare on 2 and 4, 8th
  hats), on one of several GM drum kits, with ghost notes and velocity drawn per loop;
- ``bass``: a root-and-fifth line on a two-chord progression in a drawn key, 8th or 16th rhythm, on
  one of several bass programs;
- ``chords``: off-beat stabs or a comping piano on the same kind of progression (a held pad alone
  has no audible tempo, so pads come only under drums);
- ``groove``: drums, bass and chords (stabs, comping or a pad) together.

A loop must wrap without a click, so the pattern is rendered three times in a row and the middle
repetition is kept: its start carries the tail of the notes before it, exactly as when it wraps.
The folder holds ``NNNN-<kind>-<bpm>bpm.wav`` and a JSON sidecar per loop (tempo, bars, kind,
programs, key, seed) and ``loops.json`` (the list and the held-out split: SHA-1 of the name % 10 == 0).

A user's own folder of loops (``read_loop_folder``) needs a tempo per file: in its name
("..._124bpm.wav", "124 BPM ...") or in a ``tempo.csv`` beside them (``file,bpm``).
"""

from __future__ import annotations

import csv
import logging
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.audio_io import read_mono, write_audio
from agent.demo.make_pairs import is_heldout  # SHA-1 of the name % 10 == 0 (a loop name has no variant mark)
from agent.demo.render import DRUM_KIT, render_parts
from agent.errors import AntiphonError, require
from agent.files import json_object_or_none, write_json
from agent.loops.loop_request import KIND_NAME

log = logging.getLogger(__name__)

KINDS = ("drums", "bass", "chords", "groove")
INDEX_FILE = "loops.json"
TEMPO_CSV = "tempo.csv"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
DRUM_KITS = (0, 8, 16, 24, 25, 40)  # GM kits: standard, room, power, electronic, TR-808, brush
BASS_PROGRAMS = (33, 34, 38, 39, 35)  # finger, pick, synth bass 1 and 2, fretless
CHORD_PROGRAMS = (0, 4, 5, 81, 89, 90)  # piano, two electric pianos, saw lead, warm pad, polysynth
KICK, RIM, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, LOW_TOM = 36, 37, 38, 39, 42, 46, 45
PROGRESSIONS = ((0, 5), (0, 7), (9, 5), (0, 9), (2, 7), (5, 7))  # two chords, one per bar (roots above the key)
MINOR = {9, 2, 4}  # roots taken as minor chords (vi, ii, iii)


@dataclass(frozen=True)
class LoopSetConfig:
    loops: int = 600
    bars: int = 2
    bpm_low: float = 90.0
    bpm_high: float = 140.0
    sample_rate_hz: int = 16_000
    seed: int = 0

    def __post_init__(self) -> None:
        require([
            (1 <= self.loops <= 100_000, f"loops must be 1..100000, got {self.loops}"),
            (self.bars in (1, 2, 4), f"bars must be 1, 2 or 4, got {self.bars}"),
            (40.0 <= self.bpm_low <= self.bpm_high <= 240.0, f"bpm_low..bpm_high must lie in 40..240, got {self.bpm_low}..{self.bpm_high}"),
            (8000 <= self.sample_rate_hz <= 48_000, f"sample_rate_hz must be 8000..48000, got {self.sample_rate_hz}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
        ], "loop set: ")


Note = tuple[float, float, int, int]  # onset and duration in quarter notes, pitch, velocity


def drum_part(style: str, bars: int, rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    accent = int(rng.integers(90, 121))
    for bar in range(bars):
        for step in range(16):
            q = bar * 4 + step / 4
            on_beat, off_beat = step % 4 == 0, step % 4 == 2
            if style in ("house", "techno") and on_beat:
                notes.append((q, 0.25, KICK, accent))
            if style == "pop" and (step in (0, 8) or (step == 10 and rng.random() < 0.5)):
                notes.append((q, 0.25, KICK, accent))
            if style in ("house", "pop") and step in (4, 12):
                notes.append((q, 0.25, CLAP if style == "house" else SNARE, accent - 5))
            if style == "house" and off_beat:
                notes.append((q, 0.25, OPEN_HAT, accent - 25))
            if style == "techno" and (off_beat or rng.random() < 0.5):
                notes.append((q, 0.25, CLOSED_HAT, accent - (20 if off_beat else 45)))
            if style == "techno" and step in (6, 14) and rng.random() < 0.6:
                notes.append((q, 0.25, RIM, accent - 35))
            if style == "pop" and step % 2 == 0:
                notes.append((q, 0.25, CLOSED_HAT, accent - (25 if on_beat else 40)))
        if style != "techno" and rng.random() < 0.3:
            notes.append((bar * 4 + 3.75, 0.25, LOW_TOM, accent - 30))
    return notes


def chord_pitches(key: int, root: int) -> list[int]:
    base = (key + root) % 12
    third = 3 if root in MINOR else 4
    return [base, (base + third) % 12, (base + 7) % 12]


def bass_part(key: int, progression: tuple[int, ...], bars: int, rng: np.random.Generator) -> list[Note]:
    sixteenths = rng.random() < 0.4
    step_q = 0.25 if sixteenths else 0.5
    notes: list[Note] = []
    for bar in range(bars):
        root, _, fifth = chord_pitches(key, progression[bar % len(progression)])
        for k in range(int(4 / step_q)):
            if sixteenths and k % 4 == 1 and rng.random() < 0.6:
                continue  # rests give the line its groove
            pitch = 36 + (fifth if k % 4 == 3 and rng.random() < 0.5 else root)
            notes.append((bar * 4 + k * step_q, step_q * 0.9, pitch, int(rng.integers(80, 111)) if k % 2 == 0 else 70))
    return notes


def chord_part(style: str, key: int, progression: tuple[int, ...], bars: int, rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    for bar in range(bars):
        voicing = [60 + pc if pc >= 3 else 72 + pc for pc in chord_pitches(key, progression[bar % len(progression)])]
        if style == "pad":
            notes += [(bar * 4.0, 4.0, p, 70) for p in voicing]
        elif style == "stabs":
            notes += [(bar * 4 + beat + 0.5, 0.25, p, 95) for beat in range(4) for p in voicing]
        else:  # comping: the chord on every beat, 2 and 4 accented
            notes += [(bar * 4.0 + beat, 0.6, p, int(rng.integers(95, 111)) if beat % 2 else int(rng.integers(65, 80))) for beat in range(4) for p in voicing]
    return notes


def loop_plan(index: int, config: LoopSetConfig) -> dict[str, Any]:
    """The seeded choices for loop ``index``: kind, tempo, key, styles and programs."""
    rng = np.random.default_rng([config.seed, index])
    kind = KINDS[index % len(KINDS)]
    return {
        "kind": kind, "bpm": round(float(rng.uniform(config.bpm_low, config.bpm_high)), 1), "bars": config.bars,
        "key": int(rng.integers(12)), "progression": list(PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]),
        "drum_style": str(rng.choice(["house", "techno", "pop"])), "drum_kit": int(rng.choice(DRUM_KITS)),
        "bass_program": int(rng.choice(BASS_PROGRAMS)), "chord_style": str(rng.choice(["stabs", "comping"] if kind == "chords" else ["pad", "stabs", "comping"])),
        "chord_program": int(rng.choice(CHORD_PROGRAMS)), "seed": [config.seed, index],
    }


def loop_parts(plan: dict[str, Any]) -> list[tuple[int, list[Note]]]:
    """(program, notes) of one repetition of the loop (a drum kit as DRUM_KIT + kit)."""
    rng = np.random.default_rng(plan["seed"] + [1])
    kind, bars, progression = plan["kind"], plan["bars"], tuple(plan["progression"])
    parts = []
    if kind in ("drums", "groove"):
        parts.append((DRUM_KIT + plan["drum_kit"], drum_part(plan["drum_style"], bars, rng)))
    if kind in ("bass", "groove"):
        parts.append((plan["bass_program"], bass_part(plan["key"], progression, bars, rng)))
    if kind in ("chords", "groove"):
        parts.append((plan["chord_program"], chord_part(plan["chord_style"], plan["key"], progression, bars, rng)))
    return parts


def loop_name(index: int, plan: dict[str, Any]) -> str:
    return f"{index:04d}-{plan['kind']}-{plan['bpm']:g}bpm"


def render_loop(path: Path, plan: dict[str, Any], soundfont: Path, rate_hz: int) -> np.ndarray:
    """Render a planned loop (three repetitions, the middle one kept); written to ``path``."""
    return render_repeated(path, loop_parts(plan), plan["bars"], plan["bpm"], soundfont, rate_hz)


def render_repeated(path: Path, parts: list[tuple[int, list[Note]]], bars: int, bpm: float, soundfont: Path, rate_hz: int) -> np.ndarray:
    """Render ``parts`` (one repetition, in quarter notes) three times in a row at ``bpm`` and keep
    the middle one (it wraps seamlessly); written to ``path``."""
    loop_q = 4.0 * bars
    repeated = [(program, [(q + r * loop_q, d, p, v) for r in range(3) for q, d, p, v in notes]) for program, notes in parts]
    seconds = loop_q * 60.0 / bpm
    n = int(round(seconds * rate_hz))
    with tempfile.TemporaryDirectory(prefix="antiphon-loop-") as tmp:
        whole = Path(tmp) / "three.wav"
        render_parts(whole, repeated, duration_s=3 * n / rate_hz, rate_hz=rate_hz, soundfont=soundfont, bpm=bpm)
        audio, _ = read_mono(whole)
    middle = audio[n : 2 * n]
    write_audio(path, middle, rate_hz)
    return middle


def make_loop_set(out_dir: Path, config: LoopSetConfig, soundfont: Path, workers: int = 2) -> list[str]:
    """Render ``config.loops`` loops into ``out_dir`` (rendered ones are kept); returns their names."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = [(i, loop_plan(i, config)) for i in range(config.loops)]
    names = [loop_name(i, p) for i, p in plans]

    def one(item: tuple[int, dict[str, Any]]) -> None:
        i, plan = item
        name = loop_name(i, plan)
        sidecar = {**plan, "sample_rate_hz": config.sample_rate_hz, "soundfont": Path(soundfont).name, "name": name}
        if (out_dir / f"{name}.wav").is_file() and json_object_or_none(out_dir / f"{name}.json") == sidecar:
            return  # rendered before with the same plan
        (out_dir / f"{name}.json").unlink(missing_ok=True)  # written only once its audio is
        render_loop(out_dir / f"{name}.wav", plan, soundfont, config.sample_rate_hz)
        write_json(out_dir / f"{name}.json", sidecar)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(tqdm(pool.map(one, plans), total=len(plans), desc="rendering loops", unit="loop", disable=None))
    others = sorted(p.name for p in out_dir.glob("*.wav") if p.stem not in set(names))
    if others:
        log.warning("%s also holds %d loop(s) not of this set (e.g. %s): move them away before training on the folder", out_dir, len(others), others[0])
    write_json(out_dir / INDEX_FILE, {"config": asdict(config), "soundfont": Path(soundfont).name, "loops": names,
                                      "heldout": [n for n in names if is_heldout(n)], "rule": "sha1(name) % 10 == 0"})
    log.info("loop set: %d loops (%d held out) in %s", len(names), sum(map(is_heldout, names)), out_dir)
    return names


BPM_IN_NAME = re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)[\s_-]*bpm", re.IGNORECASE)


def read_loop_folder(folder: Path) -> list[tuple[Path, float]]:
    """(audio file, bpm) of every loop in a user's folder: the tempo from ``tempo.csv`` (file,bpm)
    when listed there, else from the file name ("124bpm", "124 BPM"); one-line errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AntiphonError(f"loop folder {folder} does not exist")
    listed: dict[str, float] = {}
    if (folder / TEMPO_CSV).is_file():
        with open(folder / TEMPO_CSV, newline="", encoding="utf-8-sig") as handle:  # -sig: a CSV saved by a spreadsheet starts with a BOM
            for row_number, row in enumerate(csv.reader(handle), start=1):
                if not row or not "".join(row).strip() or (row_number == 1 and row[0].strip().lower() == "file"):
                    continue
                try:
                    listed[row[0].strip()] = float(row[1])
                except (IndexError, ValueError):
                    raise AntiphonError(f"{folder / TEMPO_CSV}: line {row_number} is not 'file,bpm'") from None
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")):
        bpm = listed.get(path.name)
        if bpm is None:
            match = BPM_IN_NAME.search(path.stem)
            if match is None:
                raise AntiphonError(f"{path}: no tempo in its name (e.g. 'groove_124bpm.wav') nor in {TEMPO_CSV}")
            bpm = float(match.group(1))
        if not 40.0 <= bpm <= 240.0:
            raise AntiphonError(f"{path}: tempo {bpm:g} bpm is outside 40..240")
        out.append((path, bpm))
    if not out:
        raise AntiphonError(f"loop folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return out


def loop_kind(path: Path) -> str | None:
    """The part a loop plays ("drums", "bass", "chords", "groove"...) as its JSON sidecar
    (``<name>.json`` beside it, written by make-loops and generate-loops) says under "kind", or
    None (no sidecar, no kind, or not a short lower-case name)."""
    sidecar = json_object_or_none(Path(path).with_suffix(".json"))
    kind = sidecar.get("kind") if sidecar is not None else None
    return kind if isinstance(kind, str) and KIND_NAME.fullmatch(kind) else None


def split_loop_folder(folder: Path) -> tuple[list[tuple[Path, float]], list[tuple[Path, float]]]:
    """(training, held-out) loops of a folder, each (audio file, bpm): the loops its loops.json lists
    are held out as it says (a POP909 loop set holds out whole songs); any other file by the loop
    set's rule on its name (SHA-1 % 10 == 0), so a user's folder splits the same way."""
    loops = read_loop_folder(folder)
    index = json_object_or_none(Path(folder) / INDEX_FILE)
    listed = index.get("heldout") if index is not None else None
    members = index.get("loops") if index is not None else None
    if not (isinstance(listed, list) and isinstance(members, list) and all(isinstance(n, str) for n in [*listed, *members])):
        listed, members = [], []
    held, indexed = set(listed), set(members)

    def out(name: str) -> bool:  # loops.json decides for its own loops; any other file by the name rule
        return name in held if name in indexed else is_heldout(name)

    return [x for x in loops if not out(x[0].stem)], [x for x in loops if out(x[0].stem)]


def fit_validation_split(training: list[tuple[Path, float]], validation_loops: int, seed: int) -> tuple[list[tuple[Path, float]], list[tuple[Path, float]]]:
    """(fit, validation): ``validation_loops`` training loops drawn by the seed (at most a fifth, at least one) choose the weights."""
    order = np.random.default_rng(seed).permutation(len(training))
    n_val = min(validation_loops, max(1, len(training) // 5))
    return [training[i] for i in sorted(order[n_val:])], [training[i] for i in sorted(order[:n_val])]
