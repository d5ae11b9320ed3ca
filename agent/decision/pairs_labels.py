"""Label sequences of a pairs folder, seen the way a trained model sees them.

Uses the chunking, perception backend and codebook the model was trained with (recorded in its
config.json), so a pairs folder evaluates exactly like the corpus it was built into.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agent.chunking import ChunkingConfig
from agent.corpus.perceive import perceive_pair, source_hearing
from agent.decision.checkpoint import DecisionBundle
from agent.errors import AntiphonError
from agent.listening.take import Take
from agent.perception import PerceptionBackend
from agent.pairs import read_heldout, scan_pairs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledPiece:
    """One evaluated piece: its labels as the model sees them, and its audio and features."""

    name: str
    source_labels: np.ndarray
    target_labels: np.ndarray
    take: Take


def label_pairs(
    bundle: DecisionBundle, perception: PerceptionBackend, pairs_dir: Path, source: str, target: str, all_pieces: bool = False,
    augment_seed: int | None = None,
) -> list[LabelledPiece]:
    """The held-out pieces (or all of them), labelled with the model's own perception
    (``agent.model_loader.model_perception``) and codebook. ``augment_seed``: the performers are
    heard through a random room, EQ, noise and gain (seeded per piece); their takes stay clean, so
    the fit is measured against what they played."""
    facts = bundle.corpus_meta
    if (source, target) != (facts["source_stem"], facts["target_stem"]):
        log.warning(
            "model %s was trained on %s -> %s; evaluating on %s -> %s",
            bundle.path.name, facts["source_stem"], facts["target_stem"], source, target,
        )
    pieces = scan_pairs(Path(pairs_dir), (source, target))
    if not all_pieces:
        heldout = read_heldout(Path(pairs_dir))
        if not heldout:
            raise AntiphonError(f"pairs folder {pairs_dir} has no held-out pieces (split.json); pass --all-pieces to evaluate every piece")
        pieces = [p for p in pieces if p.name in heldout]
    trained_on = set(bundle.meta.get("training", {}).get("fit_pieces", []))
    seen = sorted(p.name for p in pieces if p.name in trained_on)
    if seen:
        log.warning("%d evaluated piece(s) were in the model's training data (e.g. %s): scores are optimistic", len(seen), seen[0])
    chunking = ChunkingConfig.from_dict(facts["chunking"])
    out = []
    for piece in tqdm(pieces, desc="labelling pieces", unit="piece", disable=None):
        hear = None if augment_seed is None else source_hearing(augment_seed, piece.name, 1.0)
        seen = perceive_pair(piece, source, target, chunking, perception, hear_source=hear)
        if seen is not None:
            take = Take(
                name=piece.name, performer=seen.pair.source, answer=seen.pair.target, bounds=seen.bounds,
                source_features=seen.source_features, target_features=seen.target_features,
            )
            out.append(LabelledPiece(piece.name, bundle.codebook.labels(seen.source_features), bundle.codebook.labels(seen.target_features), take))
    if not out:
        raise AntiphonError(f"pairs folder {pairs_dir}: no piece to evaluate")
    return out
