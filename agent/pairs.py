"""The pairs folder: one subfolder per piece, one audio file per stem, named by the stem.

    DIR/<piece>/<stem>.wav|.flac|.mp3|.ogg
    DIR/split.json            optional: {"heldout": ["<piece>", ...]}  (the rest is training)

A piece named ``<work>@<variant>`` is another rendering of ``<work>`` (transposed, other
instruments): training never uses one rendering of a work to predict another, and a held-out
work should be held out in every rendering.

``--source`` names the performer's stem (what the agent hears), ``--target`` the stem the agent
plays (what grains are cut from).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from agent.audio_io import AUDIO_EXTENSIONS, read_mono
from agent.errors import AntiphonError
from agent.files import read_json_object

SPLIT_FILE = "split.json"
DEFAULT_LENGTH_TOLERANCE_S = 0.5
VARIANT_MARK = "@"  # "<work>@<variant>": another rendering of the same music (transposed, re-orchestrated)


def work_of(piece_name: str) -> str:
    """The work a piece renders: its name before ``@`` (pieces of one work never train or test each other)."""
    return piece_name.split(VARIANT_MARK, 1)[0]


def renderings_of(pieces: Iterable[str], among: Sequence[str]) -> list[int]:
    """Indices in ``among`` of every piece that renders a work of ``pieces`` (the pieces themselves included)."""
    works = {work_of(name) for name in pieces}
    return [i for i, name in enumerate(among) if work_of(name) in works]


@dataclass(frozen=True)
class Piece:
    """One piece of a pairs folder: its name and the file of each stem."""

    name: str
    stems: dict[str, Path]


@dataclass(frozen=True)
class PairAudio:
    """Source and target of one piece, mono float32 at one rate, trimmed to the same length."""

    name: str
    source: np.ndarray
    target: np.ndarray
    rate_hz: int


def scan_pairs(root: Path, stems: tuple[str, ...] | None) -> list[Piece]:
    """List the pieces of a pairs folder, checking that every piece has each of ``stems``.

    Each piece lists the files of ``stems``, or of every stem it has when ``stems`` is None."""
    root = Path(root)
    if not root.exists():
        raise AntiphonError(f"pairs folder {root} does not exist")
    if not root.is_dir():
        raise AntiphonError(f"pairs folder {root} is not a folder")
    pieces: list[Piece] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found: dict[str, Path] = {}
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in AUDIO_EXTENSIONS or not file.is_file():
                continue
            if file.stem in found:
                raise AntiphonError(
                    f"piece '{folder.name}' has two files for stem '{file.stem}': "
                    f"{found[file.stem].name} and {file.name}; keep one"
                )
            found[file.stem] = file
        if not found:
            continue
        for stem in stems or ():
            if stem not in found:
                have = ", ".join(sorted(found)) or "none"
                raise AntiphonError(
                    f"piece '{folder.name}' in {root} has no '{stem}' stem (found: {have})"
                )
        pieces.append(Piece(name=folder.name, stems=dict(found) if stems is None else {s: found[s] for s in stems}))
    if not pieces:
        raise AntiphonError(
            f"pairs folder {root} is empty: expected {root}/<piece>/<stem>"
            f"{{{','.join(AUDIO_EXTENSIONS)}}}"
        )
    return pieces


def read_heldout(root: Path) -> set[str]:
    """Names of the held-out pieces recorded in ``split.json`` (empty if there is no split file)."""
    path = Path(root) / SPLIT_FILE
    if not path.exists():
        return set()
    data = read_json_object(path, "train/held-out split")
    heldout = data.get("heldout")
    if not isinstance(heldout, list) or not all(isinstance(n, str) for n in heldout):
        raise AntiphonError(f"{path}: 'heldout' must be a list of piece names")
    return set(heldout)


def load_pair(
    piece: Piece,
    source: str,
    target: str,
    rate_hz: int,
    length_tolerance_s: float = DEFAULT_LENGTH_TOLERANCE_S,
) -> PairAudio:
    """Read source and target of a piece at ``rate_hz``; trim to the shorter of the two.

    Stems whose lengths differ by more than ``length_tolerance_s`` are refused: they are
    probably not aligned recordings of the same piece.
    """
    src, _ = read_mono(piece.stems[source], rate_hz)
    tgt, _ = read_mono(piece.stems[target], rate_hz)
    diff_s = abs(len(src) - len(tgt)) / rate_hz
    if diff_s > length_tolerance_s:
        raise AntiphonError(
            f"piece '{piece.name}': stems '{source}' ({len(src) / rate_hz:.2f} s) and "
            f"'{target}' ({len(tgt) / rate_hz:.2f} s) differ by {diff_s:.2f} s, more than the "
            f"{length_tolerance_s:g} s tolerance"
        )
    n = min(len(src), len(tgt))
    return PairAudio(name=piece.name, source=src[:n], target=tgt[:n], rate_hz=rate_hz)
