"""The corpus folder format, and its validating loader. No pickle anywhere.

    corpora/NAME/
      manifest.json        format + version, rates, stems, chunking, perception identity,
                           codebook size, pieces (name, audio file, length, split), SHA-256 of files
      audio/<piece>.flac   the target track of each piece at ``audio_rate_hz`` (what grains play)
      grains.npz           per grain, in piece/time order: piece, start/end sample (audio rate),
                           label (target track), source_label (the performer's track, same chunk),
                           feature (target-track feature vector), source_feature (the
                           performer's feature vector of the same chunk: the grain's context)
      codebook.npy         k-means centroids [K, D] (see agent/codebook.py)
      codebook_stats.npy   feature mean/std [2, D]

Every problem found on loading is a one-line ``AntiphonError`` naming the file and what is wrong.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio_io import read_mono
from agent.chunking import ChunkingConfig
from agent.codebook import CODEBOOK_FILE, STATS_FILE, Codebook
from agent.errors import AntiphonError
from agent.files import json_object_or_none, read_json_object, verify_sha256
from agent.pairs import work_of

FORMAT_NAME = "antiphon-corpus"
FORMAT_VERSION = 2  # 2: grains.npz gained source_feature
MANIFEST_FILE = "manifest.json"
GRAINS_FILE = "grains.npz"
AUDIO_DIR = "audio"

# name -> (dtype kind, number of dimensions)
GRAIN_ARRAYS: dict[str, tuple[str, int]] = {
    "piece": ("i", 1),
    "start_sample": ("i", 1),
    "end_sample": ("i", 1),
    "label": ("i", 1),
    "source_label": ("i", 1),
    "feature": ("f", 2),
    "source_feature": ("f", 2),
}
REQUIRED_MANIFEST_KEYS = (
    "format_version",
    "sample_rate_hz",
    "audio_rate_hz",
    "source_stem",
    "target_stem",
    "chunking",
    "perception",
    "codebook",
    "pieces",
    "files",
)


def is_corpus_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a corpus manifest (what ``build-corpus --force`` may replace)."""
    manifest = json_object_or_none(Path(folder) / MANIFEST_FILE)
    return manifest is not None and manifest.get("format") == FORMAT_NAME


@dataclass(frozen=True)
class Grains:
    """Arrays of grains.npz (one row a grain)."""

    piece: np.ndarray
    start_sample: np.ndarray
    end_sample: np.ndarray
    label: np.ndarray
    source_label: np.ndarray
    feature: np.ndarray
    source_feature: np.ndarray

    def __len__(self) -> int:
        return int(len(self.label))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in GRAIN_ARRAYS}


@dataclass(frozen=True)
class Corpus:
    """A loaded, validated corpus."""

    path: Path
    manifest: dict[str, Any]
    grains: Grains
    codebook: Codebook
    audio: tuple[np.ndarray, ...] | None

    @property
    def piece_names(self) -> list[str]:
        return [p["name"] for p in self.manifest["pieces"]]

    @property
    def audio_rate_hz(self) -> int:
        return int(self.manifest["audio_rate_hz"])

    @property
    def piece_work(self) -> np.ndarray:
        """[pieces] index of each piece's work (pieces ``<work>@<variant>`` share one; see agent/pairs.py)."""
        works: dict[str, int] = {}
        return np.asarray([works.setdefault(work_of(n), len(works)) for n in self.piece_names], dtype=np.int64)

    def piece_split(self, index: int) -> str:
        return str(self.manifest["pieces"][index]["split"])

    def piece_rows(self, index: int) -> np.ndarray:
        """Grain indices of one piece, in time order."""
        return np.nonzero(self.grains.piece == index)[0]

    def sequences(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(source labels, target labels) of one piece, one per chunk."""
        rows = self.piece_rows(index)
        return self.grains.source_label[rows], self.grains.label[rows]


def load_corpus(path: Path, with_audio: bool = True) -> Corpus:
    """Load a corpus folder, checking format, version, hashes, shapes, dtypes and ranges."""
    root = Path(path)
    if not root.is_dir():
        raise AntiphonError(f"corpus folder {root} does not exist (build one with `antiphon build-corpus`)")
    manifest = _load_manifest(root)
    files: dict[str, str] = manifest["files"]
    for name in (GRAINS_FILE, CODEBOOK_FILE, STATS_FILE):
        _check_hash(root, name, files)
    perception = manifest["perception"]
    dim = _positive_int(perception.get("dim"), root / MANIFEST_FILE, "perception.dim")
    size = _positive_int(manifest["codebook"].get("size"), root / MANIFEST_FILE, "codebook.size")
    codebook = Codebook.load(root, expected_size=size, expected_dim=dim)
    pieces = manifest["pieces"]
    grains = _load_grains(root / GRAINS_FILE, n_pieces=len(pieces), dim=dim, size=size)
    lengths = [_positive_int(p.get("num_samples"), root / MANIFEST_FILE, "pieces[].num_samples") for p in pieces]
    too_far = grains.end_sample > np.asarray(lengths, dtype=np.int64)[grains.piece]
    if np.any(too_far):
        raise AntiphonError(f"{root / GRAINS_FILE}: grain {int(np.argmax(too_far))} ends past its piece's audio")
    audio = None
    if with_audio:
        audio = tuple(_load_piece_audio(root, p, files, int(manifest["audio_rate_hz"])) for p in pieces)
    return Corpus(path=root, manifest=manifest, grains=grains, codebook=codebook, audio=audio)


def _load_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_FILE
    manifest = read_json_object(path, "corpus manifest")
    if manifest.get("format") != FORMAT_NAME:
        raise AntiphonError(f"{path}: not an Antiphon corpus manifest (format is {manifest.get('format')!r})")
    missing = [k for k in REQUIRED_MANIFEST_KEYS if k not in manifest]
    if missing:
        raise AntiphonError(f"{path}: missing keys {', '.join(missing)}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise AntiphonError(
            f"{path}: corpus format version {manifest['format_version']!r} is not supported "
            f"(this Antiphon reads version {FORMAT_VERSION}); rebuild the corpus"
        )
    if not isinstance(manifest["pieces"], list) or not manifest["pieces"]:
        raise AntiphonError(f"{path}: 'pieces' must be a non-empty list")
    for piece in manifest["pieces"]:
        if not isinstance(piece, dict) or not isinstance(piece.get("name"), str) or not isinstance(piece.get("audio"), str):
            raise AntiphonError(f"{path}: every piece needs a 'name' and an 'audio' file")
    if not isinstance(manifest["files"], dict):
        raise AntiphonError(f"{path}: 'files' must map file names to SHA-256 hashes")
    for key in ("perception", "codebook", "chunking"):
        if not isinstance(manifest[key], dict):
            raise AntiphonError(f"{path}: '{key}' must be an object")
    rate = manifest["audio_rate_hz"]
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8_000 <= rate <= 384_000:
        raise AntiphonError(f"{path}: 'audio_rate_hz' must be a whole number of Hz between 8000 and 384000, got {rate!r}")
    try:
        ChunkingConfig.from_dict(manifest["chunking"])
    except AntiphonError as exc:
        raise AntiphonError(f"{path}: {exc}") from None
    return manifest


def _check_hash(root: Path, name: str, files: dict[str, str]) -> None:
    verify_sha256(root / name, files, name, root / MANIFEST_FILE)


def _positive_int(value: Any, path: Path, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise AntiphonError(f"{path}: '{field}' must be a positive integer, got {value!r}")
    return value


def _load_grains(path: Path, n_pieces: int, dim: int, size: int) -> Grains:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in GRAIN_ARRAYS if k not in npz.files]
            if missing:
                raise AntiphonError(f"{path}: missing arrays {', '.join(missing)}")
            arrays = {k: npz[k] for k in GRAIN_ARRAYS}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise AntiphonError(f"{path}: holds pickled objects, which are refused") from exc
        raise AntiphonError(f"{path}: not a readable .npz file ({' '.join(str(exc).split())})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise AntiphonError(f"{path}: not a readable .npz file ({' '.join(str(exc).split())})") from exc
    n = len(arrays["label"])
    for name, (kind, ndim) in GRAIN_ARRAYS.items():
        arr = arrays[name]
        if arr.dtype.kind != kind or arr.ndim != ndim or len(arr) != n:
            raise AntiphonError(f"{path}: array '{name}' has dtype {arr.dtype} and shape {arr.shape}, which does not fit {n} grains")
    if n == 0:
        raise AntiphonError(f"{path}: the corpus holds no grains")
    for name in ("feature", "source_feature"):
        if arrays[name].shape[1] != dim:
            raise AntiphonError(f"{path}: '{name}' has dimension {arrays[name].shape[1]}, the manifest says {dim}")
    for name in ("label", "source_label"):
        if arrays[name].min() < 0 or arrays[name].max() >= size:
            raise AntiphonError(f"{path}: '{name}' holds values outside 0..{size - 1}")
    if arrays["piece"].min() < 0 or arrays["piece"].max() >= n_pieces:
        raise AntiphonError(f"{path}: 'piece' refers to pieces outside 0..{n_pieces - 1}")
    if np.any(arrays["start_sample"] < 0) or np.any(arrays["end_sample"] <= arrays["start_sample"]):
        raise AntiphonError(f"{path}: every grain needs 0 <= start_sample < end_sample")
    if not (np.all(np.isfinite(arrays["feature"])) and np.all(np.isfinite(arrays["source_feature"]))):
        raise AntiphonError(f"{path}: features hold NaN or infinite values")
    return Grains(**arrays)


def _load_piece_audio(root: Path, piece: dict[str, Any], files: dict[str, str], rate_hz: int) -> np.ndarray:
    name = piece["audio"]
    path = root / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise AntiphonError(f"{root / MANIFEST_FILE}: audio path {name!r} must stay inside the corpus folder")
    _check_hash(root, name, files)
    samples, file_rate = read_mono(path)
    if file_rate != rate_hz:
        raise AntiphonError(f"{path}: sample rate {file_rate} Hz, the manifest says {rate_hz} Hz")
    if len(samples) != piece["num_samples"]:
        raise AntiphonError(f"{path}: {len(samples)} samples, the manifest says {piece['num_samples']}")
    return samples


def read_piece_audio(corpus: Corpus, index: int) -> np.ndarray:
    """One piece's audio decoded from its file, checked against the manifest (hash, rate, length)."""
    files: dict[str, str] = corpus.manifest["files"]
    return _load_piece_audio(corpus.path, corpus.manifest["pieces"][index], files, corpus.audio_rate_hz)
