"""Corpus audio for playback: every piece at one output rate in one memory-mapped file, shared.

The live engine and rehearsal play grains at the stream's rate. Decoding a corpus's FLAC files and
resampling them in every agent cost the whole corpus in RAM each time (about 750 MB for the demo
corpus at 48 kHz, again at every model or corpus swap, never returned). Instead the first use of a
corpus at a rate writes it once, decoded and resampled, as 16-bit PCM into the cache folder
(``<cache>/corpus-audio/<key>.pcm16`` with a JSON index beside it, see ``agent.paths.cache_dir``);
every later agent, swap and process maps that file read-only. Its pages live in the operating
system's page cache: shared, read once, and given back under memory pressure.

The key covers the audio files' SHA-256 (from the manifest) and the rate. The index records each
file's size and modification time when its hash was checked: a file whose stamp changed since is
hashed again (refused if it no longer matches the manifest; the index is updated if it does) before
any cached audio is used. The cache is safe to delete; nothing prunes it.
16-bit PCM: corpora store 16-bit FLAC, so at the corpus's own rate the copy is exact; a resampled
copy is rounded to 16 bits (noise near -96 dBFS). ``GrainRenderer`` reads either dtype.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent import paths
from agent.audio_io import resample
from agent.corpus.format import Corpus, read_piece_audio
from agent.errors import AntiphonError
from agent.files import verify_sha256

log = logging.getLogger(__name__)

STORE_VERSION = 1
STORE_DIR = "corpus-audio"
PCM_SCALE = 32768.0  # as libsndfile reads 16-bit PCM: k / 32768

Stamps = list[list[int]]  # per audio file: [size in bytes, modification time in ns]

_MAPPED: dict[str, tuple[Stamps, tuple[np.ndarray, ...]]] = {}  # key -> (stamps, views): one mapping per process
_LOCK = threading.Lock()


def playback_audio(corpus: Corpus, rate_hz: int) -> tuple[np.ndarray, ...]:
    """Each piece's audio at ``rate_hz`` (int16 views of one read-only mapping; one-line errors for
    a missing or changed audio file)."""
    names = [p["audio"] for p in corpus.manifest["pieces"]]
    key = _key(corpus, names, rate_hz)
    stamps = _stamps(corpus, names)
    with _LOCK:
        hit = _MAPPED.get(key)
        if hit is not None and hit[0] == stamps:
            return hit[1]
        views = _open(corpus, key, stamps)
        if views is None:
            views = _build(corpus, key, stamps, rate_hz)
            if not isinstance(views[0], np.memmap):
                return views  # kept in memory (the cache could not be written): not shared, freed with its agent
        _MAPPED[key] = (stamps, views)
        return views


def _key(corpus: Corpus, names: list[str], rate_hz: int) -> str:
    files = corpus.manifest["files"]
    text = json.dumps({"version": STORE_VERSION, "rate_hz": int(rate_hz), "files": [[n, files.get(n)] for n in names]})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _stamps(corpus: Corpus, names: list[str]) -> Stamps:
    out = []
    for name in names:
        try:
            st = (corpus.path / name).stat()
        except FileNotFoundError:
            raise AntiphonError(f"{corpus.path / name}: missing (corpus {corpus.path})") from None
        except OSError as exc:
            raise AntiphonError(f"{corpus.path / name}: cannot be read ({exc.strerror or exc})") from None
        out.append([int(st.st_size), int(st.st_mtime_ns)])
    return out


def _paths(key: str) -> tuple[Path, Path]:
    folder = paths.cache_dir() / STORE_DIR
    return folder / f"{key}.pcm16", folder / f"{key}.json"


def _open(corpus: Corpus, key: str, stamps: Stamps) -> tuple[np.ndarray, ...] | None:
    """The cached file mapped, if it was made from these very files (files whose stamp changed are
    hashed again against the manifest: AntiphonError if one no longer matches); else None."""
    data_path, index_path = _paths(key)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        lengths = [int(n) for n in index["lengths"]]
        old = index.get("stamps")
        if index.get("version") != STORE_VERSION or not isinstance(old, list) or len(old) != len(stamps) or data_path.stat().st_size != 2 * sum(lengths):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    changed = [i for i, (a, b) in enumerate(zip(old, stamps)) if a != b]
    for i in changed:
        name = corpus.manifest["pieces"][i]["audio"]
        verify_sha256(corpus.path / name, corpus.manifest["files"], name, corpus.path / "manifest.json")
    if changed:
        try:
            _write_atomic(index_path, lambda f: f.write(json.dumps({**index, "stamps": stamps}).encode()))
        except OSError as exc:
            log.debug("cannot update %s (%s)", index_path, exc)
    return _views(data_path, lengths)


def _views(data_path: Path, lengths: list[int]) -> tuple[np.ndarray, ...]:
    if sum(lengths) == 0:
        return tuple(np.zeros(0, np.int16) for _ in lengths)
    data = np.memmap(data_path, dtype=np.int16, mode="r")
    if hasattr(data, "_mmap") and hasattr(mmap, "MADV_WILLNEED"):
        data._mmap.madvise(mmap.MADV_WILLNEED)  # read ahead now, not at the first grain of a performance
    int(data[:: mmap.PAGESIZE // 2].sum(dtype=np.int64))  # touch every page once: no page fault in a performance
    ends = np.cumsum(lengths)
    return tuple(data[e - n : e] for e, n in zip(ends, lengths))


def _build(corpus: Corpus, key: str, stamps: Stamps, rate_hz: int) -> tuple[np.ndarray, ...]:
    """Decode (checking every file against the manifest), resample, write and map; in memory when
    the cache folder cannot be written."""
    pieces = corpus.manifest["pieces"]
    arrays = []
    for i in tqdm(range(len(pieces)), desc=f"corpus audio at {rate_hz} Hz", unit="piece", disable=None, leave=False):
        x = resample(read_piece_audio(corpus, i), corpus.audio_rate_hz, rate_hz)
        arrays.append(np.clip(np.round(x * PCM_SCALE), -32768, 32767).astype(np.int16))
    data_path, index_path = _paths(key)
    try:
        data_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(data_path, lambda f: [f.write(a.tobytes()) for a in arrays])
        index = {"version": STORE_VERSION, "corpus": str(corpus.path), "rate_hz": int(rate_hz), "stamps": stamps, "lengths": [len(a) for a in arrays]}
        _write_atomic(index_path, lambda f: f.write(json.dumps(index).encode()))
    except OSError as exc:
        log.warning("corpus audio kept in memory: cannot write the cache %s (%s)", data_path, exc)
        return tuple(arrays)
    log.info("corpus audio of %s at %d Hz cached in %s", corpus.path, rate_hz, data_path)
    return _views(data_path, [len(a) for a in arrays])


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name says it is there
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
