"""Four-part Bach chorales from music21's corpus, as note lists per voice (cached as JSON).

Parsing a chorale with music21 takes about 0.3 s, so parsed note lists are cached in
``<cache>/chorales-v1.json`` (see agent/paths.py); delete it to re-parse.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from agent import paths
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

STEMS = ("soprano", "alto", "tenor", "bass")
CACHE_FILE = "chorales-v1.json"


@dataclass(frozen=True)
class Chorale:
    """A chorale's voices; times in quarter notes, pitches as MIDI numbers."""

    name: str
    number: int  # position in Riemenschneider order, from 1
    length_q: float
    voices: dict[str, list[tuple[float, float, int]]]  # stem -> [(onset_q, duration_q, midi)]


def chorale_names() -> list[str]:
    """music21's chorale file names in Riemenschneider order (duplicates removed)."""
    try:
        from music21 import corpus
    except ImportError as exc:
        raise AntiphonError("music21 is not installed; run scripts/setup.sh") from exc
    seen: dict[str, None] = {}
    for name in corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename"):
        seen.setdefault(str(name), None)
    return list(seen)


def parse_chorale(name: str) -> dict | None:
    """Note lists of the four voices, or None if the chorale is not plain SATB."""
    from music21 import corpus

    score = corpus.parse(name)
    voices: dict[str, list[list[float]]] = {}
    for part in score.parts:
        stem = (part.partName or "").strip().lower()
        if stem not in STEMS or stem in voices:
            return None
        notes = []
        for element in part.stripTies().flatten().notes:
            duration = float(element.quarterLength)
            if duration <= 0:
                continue  # grace notes
            for pitch in element.pitches:
                notes.append([float(element.offset), duration, int(pitch.midi)])
        if not notes:
            return None
        voices[stem] = notes
    if set(voices) != set(STEMS):
        return None
    return {"length_q": float(score.highestTime), "voices": voices}


def iter_chorales(count: int | None, progress: bool = True) -> Iterator[Chorale]:
    """The first ``count`` SATB chorales (all of them if None), parsing only what the cache lacks."""
    cache_path = paths.cache_dir() / CACHE_FILE
    cache = _read_cache(cache_path)
    names = chorale_names()
    dirty = False
    found = 0
    bar = tqdm(total=count or len(names), desc="reading chorales", unit="chorale", disable=None if progress else True)
    try:
        for number, name in enumerate(names, start=1):
            if count is not None and found >= count:
                break
            if name not in cache:
                cache[name] = parse_chorale(name)
                dirty = True
            entry = cache[name]
            if entry is None:
                continue
            found += 1
            bar.update(1)
            voices = {s: [(float(a), float(b), int(c)) for a, b, c in entry["voices"][s]] for s in STEMS}
            yield Chorale(name=name, number=number, length_q=float(entry["length_q"]), voices=voices)
    finally:
        bar.close()
        if dirty:
            _write_cache(cache_path, cache)


def _read_cache(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("ignoring unreadable chorale cache %s", path)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cache), encoding="utf-8")
    tmp.replace(path)
