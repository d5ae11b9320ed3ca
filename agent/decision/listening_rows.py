"""The answers an evaluation plays and pitch-tracks: the model's, baselines' and oracles'.

Each is a grain per chunk of every held-out take, played from the corpus with the evaluated
pieces' own grains excluded, and placed where the live agent would play it: a decision made after
hearing chunk t sounds during chunk t + 1 (whatever the model was trained to anticipate).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from agent.decision.evaluate import MethodResult
from agent.decision.pairs_labels import LabelledPiece
from agent.playback.grain_selection import DEFAULT_TABOO_GRAINS, GrainSelector
from agent.listening.answers import GrainPlayer, context_lookup_grains, labels_to_grains, nearest_answer_grains

MODEL_ROW = "model (free-running)"
LABEL_ROWS = {
    "lookup (answer given performer)": "lookup table: answer label given performer label",
    "random": "random labels (does not listen)",
}
ORACLE_LABELS = "oracle: true answer labels through the grain selector"
ORACLE_NEAREST = "oracle: nearest grain to the true answer feature"
CONTEXT_LOOKUP = "nearest recorded performer context, its next grain (no training)"


def on_chunks(predicted: np.ndarray, n: int) -> np.ndarray:
    """Labels per chunk from the predictions of steps 0..n-2: the decision made after hearing chunk t
    plays during chunk t + 1, as live, whatever chunk the model was trained to predict (-1: none)."""
    out = np.full(n, -1, dtype=np.int64)
    m = min(len(predicted), n - 1)
    out[1 : 1 + m] = predicted[:m]
    return out


def listening_answers(
    corpus: Any, labelled: Sequence[LabelledPiece], results: list[MethodResult], exclude_pieces: list[int],
    crossfade_ms: float = 20.0, model_grains: list[np.ndarray] | None = None,
) -> dict[str, list[np.ndarray]]:
    """Method -> one rendered answer per take (at the corpus audio rate). ``model_grains``: the
    model's own grain per chunk (a listener chooses grains, not labels)."""
    chunking = corpus.manifest["chunking"]
    player = GrainPlayer(corpus, crossfade_ms, chunking["hop_s"] if chunking["mode"] == "uniform" else None)
    allowed = ~np.isin(corpus.grains.piece, exclude_pieces)
    selector = GrainSelector.from_corpus(corpus, exclude_pieces=exclude_pieces, taboo_grains=DEFAULT_TABOO_GRAINS)
    by_method = {(r.method, r.mode): r for r in results}
    grains: dict[str, list[np.ndarray]] = {}
    if model_grains is not None:
        grains[MODEL_ROW] = list(model_grains)
    else:
        model = by_method[("model", "free-running")]
        grains[MODEL_ROW] = [labels_to_grains(on_chunks(p, len(lp.take.bounds)), selector) for p, lp in zip(model.predictions, labelled)]
    for method, row in LABEL_ROWS.items():
        r = by_method[(method, "free-running")]
        grains[row] = [labels_to_grains(on_chunks(p, len(lp.take.bounds)), selector) for p, lp in zip(r.predictions, labelled)]
    grains[CONTEXT_LOOKUP] = [context_lookup_grains(lp.take, corpus, allowed) for lp in labelled]
    grains[ORACLE_LABELS] = [labels_to_grains(lp.target_labels, selector) for lp in labelled]
    grains[ORACLE_NEAREST] = [nearest_answer_grains(lp.take, corpus, allowed) for lp in labelled]
    return {m: [player.play(g, lp.take.bounds, len(lp.take.performer)) for g, lp in zip(gs, labelled)] for m, gs in grains.items()}
