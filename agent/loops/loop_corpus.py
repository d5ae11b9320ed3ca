"""Generated loops into a corpus an agent can answer with (``generate-loops --into-corpus``).

A corpus is built from a pairs folder of (performer, answer) stems. A generated loop has no
performer, so each loop is a piece whose answer stem ``loop`` is the loop and whose heard stem
``heard`` is the same audio: grains are labelled with the codebook of a decision model (by default
the shipped one), chunked and perceived as that model's corpus was, so the model can choose the
loops' grains when it answers a performer, and an agent can play them back.

The pairs folder lives beside the corpus (``<corpus>-pairs``) and keeps every loop ever added, so a
second request extends the corpus: it is rebuilt over all of them (atomically, as build-corpus does).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from agent.chunking import ChunkingConfig
from agent.corpus.builder import CorpusBuildConfig, build_corpus
from agent.corpus.format import MANIFEST_FILE, is_corpus_folder
from agent.decision.checkpoint import load_model
from agent.errors import AntiphonError
from agent.files import check_output_place, read_json_object
from agent.model_loader import model_perception_config

log = logging.getLogger(__name__)

HEARD_STEM, LOOP_STEM = "heard", "loop"


def pairs_folder_of(corpus_dir: Path) -> Path:
    corpus_dir = Path(corpus_dir)
    return corpus_dir.with_name(f"{corpus_dir.name}-pairs")


def corpus_config_of(model_dir: Path) -> CorpusBuildConfig:
    """Chunking, perception and codebook as ``model_dir``'s own corpus had them (read and checked by load_model)."""
    bundle = load_model(Path(model_dir))
    return CorpusBuildConfig(source_stem=HEARD_STEM, target_stem=LOOP_STEM, chunking=ChunkingConfig.from_dict(bundle.corpus_meta["chunking"]),
                             perception=model_perception_config(bundle), codebook_from=str(model_dir))


def check_corpus_target(corpus_dir: Path, loops_out: Path | None = None) -> None:
    """Refuse, in one line and before anything is generated, a place that is not a corpus of loops to
    build or extend: an existing corpus must be one of loops (stems heard -> loop), its pairs folder
    must hold loop pieces only, and the loops' own folder (``loops_out``) must be neither."""
    corpus_dir = Path(corpus_dir)
    pairs = pairs_folder_of(corpus_dir)
    check_output_place(corpus_dir, "--into-corpus")
    check_output_place(pairs, "--into-corpus (its pairs folder)")
    if loops_out is not None and Path(loops_out).resolve() in (corpus_dir.resolve(), pairs.resolve()):
        raise AntiphonError(f"--out {loops_out} is the corpus or its pairs folder: write the loops elsewhere")
    if corpus_dir.is_dir() and any(corpus_dir.iterdir()):
        if not is_corpus_folder(corpus_dir):
            raise AntiphonError(f"{corpus_dir} holds files but is not a corpus: --into-corpus builds or extends a corpus of loops only")
        manifest = read_json_object(corpus_dir / MANIFEST_FILE, "corpus manifest")
        if (manifest.get("source_stem"), manifest.get("target_stem")) != (HEARD_STEM, LOOP_STEM):
            raise AntiphonError(f"{corpus_dir} is a corpus of {manifest.get('source_stem')} -> {manifest.get('target_stem')}, not of loops: "
                                "--into-corpus extends only a corpus it built")
    if pairs.is_dir():
        stems = {f"{HEARD_STEM}.wav", f"{LOOP_STEM}.wav"}
        other = next((p for p in sorted(pairs.iterdir()) if not p.is_dir() or {q.name for q in p.iterdir()} != stems), None)
        if other is not None:
            raise AntiphonError(f"{pairs} holds {other.name}, not a loop piece ({' and '.join(sorted(stems))}): --into-corpus adds only to its own pairs folder")


def free_piece(pairs: Path, stem: str) -> Path:
    """``pairs/stem``, or ``stem-2``, ``stem-3``... so that no loop added before is replaced."""
    piece, k = pairs / stem, 1
    while piece.exists():
        k += 1
        piece = pairs / f"{stem}-{k}"
    return piece


def add_to_corpus(loop_paths: list[Path], corpus_dir: Path, config: CorpusBuildConfig) -> Path:
    """Add the loops to ``<corpus>-pairs`` (new pieces; nothing there is replaced) and (re)build
    ``corpus_dir`` over every loop there. ``config``: ``corpus_config_of`` a decision model."""
    corpus_dir = Path(corpus_dir)
    check_corpus_target(corpus_dir, Path(loop_paths[0]).parent if loop_paths else None)
    pairs = pairs_folder_of(corpus_dir)
    for path in loop_paths:
        piece = free_piece(pairs, Path(path).stem)
        piece.mkdir(parents=True)
        shutil.copyfile(path, piece / f"{LOOP_STEM}.wav")
        shutil.copyfile(path, piece / f"{HEARD_STEM}.wav")
    log.info("loops in %s: %d (added %d); building %s with the codebook of %s", pairs, sum(1 for p in pairs.iterdir() if p.is_dir()),
             len(loop_paths), corpus_dir, config.codebook_from)
    return build_corpus(pairs, corpus_dir, config, force=True)
