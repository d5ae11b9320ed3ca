"""Every filesystem location Antiphon uses by default, in one place.

Nothing here is user-specific: locations are relative to the repository, or come from the
environment (``ANTIPHON_CACHE``, ``ANTIPHON_SOUNDFONT``, ``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from agent.errors import AntiphonError

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
CORPORA_DIR = REPO_ROOT / "corpora"
MAXPATCHES_DIR = REPO_ROOT / "maxpatches"

OUT_DIR = REPO_ROOT / "out"
RECORDINGS_DIR = OUT_DIR / "recordings"  # antiphon serve: /antiphon/<agent>/record 1
# antiphon serve: the folders whose models, corpora and audio files OSC may load (with the record
# folder and every --allow-dir); any other path is answered as missing
OSC_READABLE_DIRS = (CORPORA_DIR, MODELS_DIR)
DOCS_DIR = REPO_ROOT / "docs"

DEMO_PAIRS_DIR = CORPORA_DIR / "demo-pairs"
DEMO_CORPUS_DIR = CORPORA_DIR / "demo"
# The shipped decision model (soprano -> bass on the demo corpus); rebuilt by scripts/train-default-model.sh.
DEFAULT_MODEL_DIR = MODELS_DIR / "demo-soprano-bass"
# Antiphon's own small Wav2Vec2, pretrained on the demo pairs; rebuilt by scripts/pretrain-perception.sh.
DEFAULT_PERCEPTION_DIR = MODELS_DIR / "antiphon-w2v2-small"
DEFAULT_LOOP_AUTOENCODER_DIR = MODELS_DIR / "loop-autoencoder"
DEFAULT_LOOP_DIFFUSION_DIR = MODELS_DIR / "loop-diffusion"

# Where Debian's fluid-soundfont-gm (and other distributions) install a General MIDI soundfont.
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)


def is_plain_name(name: str) -> bool:
    """A single folder name: not empty, not ``.`` or ``..``, no path separator or NUL (safe to join under a known folder)."""
    return bool(name) and name not in (".", "..") and not re.search(r"[/\\\x00]", name)


def inside_folders(path: str | Path, folders: Iterable[Path]) -> Path | None:
    """``path`` with every symlink and '..' resolved (relative to the working folder), when it lies in
    one of ``folders`` (resolved too) or is one of them; None otherwise or when it cannot be resolved."""
    try:
        resolved = Path(path).resolve()
        roots = [Path(folder).resolve() for folder in folders]
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return None
    return resolved if any(resolved.is_relative_to(root) for root in roots) else None


def corpus_dir_named(name: Any) -> Path:
    """corpora/<name> for a name read from a model file, refused unless it is a plain folder name."""
    if not isinstance(name, str) or not is_plain_name(name):
        raise AntiphonError(f"corpus name {name!r} is not a plain folder name under {CORPORA_DIR}")
    return CORPORA_DIR / name


def cache_dir() -> Path:
    """Folder for caches that are safe to delete (parsed scores, ...)."""
    override = os.environ.get("ANTIPHON_CACHE")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "antiphon"


def default_soundfont() -> Path | None:
    """The General MIDI soundfont to render the demo corpus with, or None if none is installed."""
    override = os.environ.get("ANTIPHON_SOUNDFONT")
    if override:
        return Path(override)
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    return None
