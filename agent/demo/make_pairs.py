"""`antiphon make-demo-pairs`: Bach chorales rendered to a pairs folder, reproducibly.

Each chorale's four voices become ``soprano/alto/tenor/bass.flac`` in ``<out>/<NNN>-<bwv>/``,
played by General MIDI instruments chosen per piece and voice (seeded), at a seeded tempo.
``score.json`` beside the stems records the notes (in seconds), the tempo and the programs;
a piece whose score.json matches the request is not rendered again (the cache).
``split.json`` records the held-out pieces: a chorale is held out when the SHA-1 of its name
is 0 mod 10 (stable whatever the number of pieces); when that holds out none of two or more
chorales, the last one is held out so evaluation always has something to run on.

``variants`` > 1 renders each chorale again as ``<NNN>-<bwv>@v<i>`` (i = 1, 2, ...): transposed by a
seeded -5..+6 semitones (never 0), with other seeded instruments, tempo and loudness, so that a
model learns a relation that holds in any key and timbre. Variant 0 is the chorale as written
(the same plan and cache as without variants). All renderings of a held-out chorale are held out.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agent import paths
from agent.demo.chorales import STEMS, Chorale, iter_chorales
from agent.demo.render import fluidsynth_path, render_voice
from agent.errors import AntiphonError
from agent.files import read_json_object, write_json
from agent.pairs import SPLIT_FILE, VARIANT_MARK, work_of

log = logging.getLogger(__name__)

SCORE_FILE = "score.json"
TAIL_S = 1.0
# General MIDI programs (0-based) that suit each voice's register.
PROGRAMS: dict[str, tuple[int, ...]] = {
    "soprano": (73, 68, 40, 71, 56, 74),  # flute, oboe, violin, clarinet, trumpet, recorder
    "alto": (40, 71, 69, 65, 41, 52),  # violin, clarinet, English horn, alto sax, viola, choir aahs
    "tenor": (41, 42, 70, 66, 57, 52),  # viola, cello, bassoon, tenor sax, trombone, choir aahs
    "bass": (42, 43, 70, 58, 32, 33),  # cello, contrabass, bassoon, tuba, acoustic bass, finger bass
}
TEMPO_RANGE_BPM = (66, 96)
VELOCITY_RANGE = (80, 110)
TRANSPOSITIONS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6)  # semitones, for variants 1, 2, ...
MAX_VARIANTS = 8


@dataclass(frozen=True)
class DemoPairsConfig:
    """What the demo pairs folder holds. ``pieces=None`` means every SATB chorale (328)."""

    pieces: int | None = 100
    seed: int = 0
    sample_rate_hz: int = 22_050
    variants: int = 1  # renderings per chorale: the written one, then transposed and re-orchestrated ones

    def __post_init__(self) -> None:
        if self.pieces is not None and not 1 <= self.pieces <= 400:
            raise AntiphonError(f"pieces must be between 1 and 400, got {self.pieces}")
        if not 1 <= self.variants <= MAX_VARIANTS:
            raise AntiphonError(f"variants must be between 1 and {MAX_VARIANTS}, got {self.variants}")
        if not 8000 <= self.sample_rate_hz <= 96_000:
            raise AntiphonError(f"sample_rate_hz must be between 8000 and 96000, got {self.sample_rate_hz}")


def piece_folder_name(chorale: Chorale, variant: int = 0) -> str:
    name = f"{chorale.number:03d}-{chorale.name.split('/')[-1]}"
    return f"{name}{VARIANT_MARK}v{variant}" if variant else name


def is_heldout(piece_name: str) -> bool:
    """Held out by the SHA-1 of the chorale's name (every rendering of a chorale alike)."""
    return int(hashlib.sha1(work_of(piece_name).encode()).hexdigest(), 16) % 10 == 0


def render_plan(chorale: Chorale, config: DemoPairsConfig, variant: int = 0) -> dict:
    """Tempo, instruments, velocities (and for variants, transposition) of one rendering:
    seeded by (seed, chorale number) for variant 0, (seed, chorale number, variant) after."""
    rng = np.random.default_rng([config.seed, chorale.number] + ([variant] if variant else []))
    bpm = int(rng.integers(TEMPO_RANGE_BPM[0], TEMPO_RANGE_BPM[1] + 1))
    programs = {s: int(rng.choice(PROGRAMS[s])) for s in STEMS}
    velocities = {s: int(rng.integers(VELOCITY_RANGE[0], VELOCITY_RANGE[1] + 1)) for s in STEMS}
    seconds_per_q = 60.0 / bpm
    plan = {
        "chorale": chorale.name,
        "sample_rate_hz": config.sample_rate_hz,
        "tempo_bpm": bpm,
        "duration_s": round(chorale.length_q * seconds_per_q + TAIL_S, 4),
        "programs": programs,
        "velocities": velocities,
        "seed": config.seed,
    }
    if variant:  # variant 0's plan stays what it was before variants existed (its cache holds)
        plan["variant"] = variant
        plan["transpose_semitones"] = int(rng.choice(TRANSPOSITIONS))
    return plan


def transposed(notes: list[tuple[float, float, int]], semitones: int) -> list[tuple[float, float, int]]:
    return [(a, b, p + semitones) for a, b, p in notes]


def make_demo_pairs(out_dir: Path, config: DemoPairsConfig, soundfont: Path | None = None, workers: int | None = None) -> list[str]:
    """Write (or complete) the demo pairs folder; returns the piece names."""
    soundfont = soundfont or paths.default_soundfont()
    if soundfont is None or not Path(soundfont).is_file():
        raise AntiphonError(
            f"no General MIDI soundfont found (looked at {soundfont or ', '.join(map(str, paths.SOUNDFONT_CANDIDATES))}); "
            "install fluid-soundfont-gm or pass --soundfont"
        )
    fluidsynth_path()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chorales = list(iter_chorales(config.pieces))
    if config.pieces is not None and len(chorales) < config.pieces:
        log.warning("music21 has only %d SATB chorales; writing those", len(chorales))

    jobs = []
    plans: dict[str, tuple[Chorale, dict]] = {}
    for chorale in chorales:
        for variant in range(config.variants):
            name = piece_folder_name(chorale, variant)
            plan = render_plan(chorale, config, variant)
            plans[name] = (chorale, plan)
            if _is_cached(out_dir / name, plan):
                continue
            for stem in STEMS:
                jobs.append((name, stem))
    cached = len(plans) - len({name for name, _ in jobs})
    if cached:
        log.info("%d of %d pieces already rendered (cached)", cached, len(plans))

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = {pool.submit(_render_job, out_dir / name, plans[name], stem, Path(soundfont)): name for name, stem in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="rendering stems", unit="stem", disable=None):
            future.result()
    for name in sorted({name for name, _ in jobs}):
        chorale, plan = plans[name]
        seconds_per_q = 60.0 / plan["tempo_bpm"]
        shift = plan.get("transpose_semitones", 0)
        score = dict(plan)
        score["notes"] = {
            s: [[round(a * seconds_per_q, 4), round(b * seconds_per_q, 4), p] for a, b, p in transposed(chorale.voices[s], shift)] for s in STEMS
        }
        write_json(out_dir / name / SCORE_FILE, score)

    names = sorted(plans)
    heldout = [n for n in names if is_heldout(n)]
    works = sorted({work_of(n) for n in names})
    if not heldout and len(works) >= 2:
        heldout = [n for n in names if work_of(n) == works[-1]]
    write_json(
        out_dir / SPLIT_FILE,
        {"rule": "sha1(chorale name) % 10 == 0 (else the last chorale), every rendering alike", "heldout": heldout,
         "train": [n for n in names if n not in heldout]},
    )
    write_json(out_dir / "demo.json", {"made_by": "antiphon make-demo-pairs", "config": asdict(config), "soundfont": Path(soundfont).name})
    log.info("demo pairs: %d pieces (%d held out) in %s", len(names), len(heldout), out_dir)
    return names


def _is_cached(folder: Path, plan: dict) -> bool:
    score_path = folder / SCORE_FILE
    if not score_path.is_file() or not all((folder / f"{s}.flac").is_file() for s in STEMS):
        return False
    try:
        score = read_json_object(score_path, "demo score")
    except AntiphonError:
        return False
    return all(score.get(k) == v for k, v in plan.items())


def _render_job(folder: Path, chorale_plan: tuple[Chorale, dict], stem: str, soundfont: Path) -> None:
    chorale, plan = chorale_plan
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SCORE_FILE).unlink(missing_ok=True)  # a piece is complete only once score.json is back
    render_voice(
        folder / f"{stem}.flac",
        transposed(chorale.voices[stem], plan.get("transpose_semitones", 0)),
        bpm=plan["tempo_bpm"],
        program=plan["programs"][stem],
        velocity=plan["velocities"][stem],
        duration_s=plan["duration_s"],
        rate_hz=plan["sample_rate_hz"],
        soundfont=soundfont,
    )
