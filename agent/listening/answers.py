"""Answers as audio, and the table of how they listen.

An *answer* here is a grain per chunk of a held-out take (``-1``: nothing plays), placed on the
take's timeline where the live agent would play it: the grain for chunk t sounds during chunk t.
``GrainPlayer.play`` renders it with the engine's own renderer (equal-power crossfades, contiguous
grains copied). ``listening_table`` pitch-tracks performers and answers once and scores every
answer as matched / mismatched / gain (see ``agent.listening.fit``).

Reference answers (what the rows of an evaluation compare against):
- ``labels_to_grains``: labels played through the grain selector (a model, a baseline, or the
  true answer labels: the *oracle* row that shows what the label alphabet keeps);
- ``nearest_answer_grains``: the corpus grain nearest to each true answer chunk's feature (the
  oracle that shows what the features keep, with perfect foresight);
- ``context_lookup_grains``: no training at all: the grain recorded *after* the corpus chunk whose
  performer context is nearest to what was just heard (causal: it plays at the next chunk).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.playback.grain_selection import GrainSelector
from agent.playback.renderer import GrainRenderer
from agent.listening.fit import ListeningScore, score_answers
from agent.listening.take import Take
from agent.listening.tracks import ListeningConfig, Track, analyse

log = logging.getLogger(__name__)

CEILING = "true answer (ceiling)"


class GrainPlayer:
    """Renders per-chunk grain choices of a corpus onto a take's timeline, at the corpus audio rate."""

    def __init__(self, corpus: Any, crossfade_ms: float = 20.0, slot_s: float | None = None) -> None:
        if corpus.audio is None:
            raise ValueError("the corpus must be loaded with its audio")
        g = corpus.grains
        self.rate_hz = corpus.audio_rate_hz
        self.piece = g.piece
        self.renderer = GrainRenderer(corpus.audio, g.piece, g.start_sample, g.end_sample, int(round(crossfade_ms * 1e-3 * self.rate_hz)))
        self.renderer.set_slot(None if slot_s is None else int(round(slot_s * self.rate_hz)))

    def play(self, grains: np.ndarray, bounds: np.ndarray, length_16k: int) -> np.ndarray:
        scale = self.rate_hz / PERCEPTION_RATE_HZ
        total = int(round(length_16k * scale))
        out = np.zeros(total, dtype=np.float32)
        self.renderer.reset()
        prev = -1
        for t, grain in enumerate(np.asarray(grains)):
            if grain < 0:
                prev = -1
                self.renderer.reset()
                continue
            contiguous = prev >= 0 and grain == prev + 1 and self.piece[grain] == self.piece[prev]
            audio = self.renderer.render(int(grain), bool(contiguous))
            begin = int(round(bounds[t, 0] * scale))
            n = max(0, min(len(audio), total - begin))
            out[begin : begin + n] = audio[:n]
            prev = int(grain)
        return out


def labels_to_grains(labels: np.ndarray, selector: GrainSelector) -> np.ndarray:
    """Labels per chunk (-1: nothing) through the grain selector, as the agent plays them."""
    selector.reset()
    return np.array([selector.choose(int(k)).grain if k >= 0 else -1 for k in labels], dtype=np.int64)


def _nearest(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``keys`` for every row of ``queries`` (squared L2)."""
    import faiss

    index = faiss.IndexFlatL2(keys.shape[1])
    index.add(np.ascontiguousarray(keys, dtype=np.float32))
    _, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), 1)
    return idx[:, 0].astype(np.int64)


def nearest_answer_grains(take: Take, corpus: Any, allowed: np.ndarray) -> np.ndarray:
    """Oracle: the allowed grain nearest to each true answer chunk's feature (same chunk)."""
    rows = np.nonzero(allowed)[0]
    cb = corpus.codebook
    return rows[_nearest(cb.standardise(take.target_features), cb.standardise(corpus.grains.feature[rows]))]


def context_lookup_grains(take: Take, corpus: Any, allowed: np.ndarray) -> np.ndarray:
    """No learning: after hearing chunk t, the grain recorded right after the corpus chunk whose
    performer feature is nearest to chunk t, played at chunk t + 1 (causal, as live)."""
    g = corpus.grains
    nxt = np.arange(len(g)) + 1
    has_next = (nxt < len(g)) & (g.piece[np.minimum(nxt, len(g) - 1)] == g.piece)
    usable = np.nonzero(allowed & has_next)[0]
    usable = usable[allowed[nxt[usable]]]
    cb = corpus.codebook
    matched = usable[_nearest(cb.standardise(take.source_features), cb.standardise(g.source_feature[usable]))]
    out = np.full(len(take.bounds), -1, dtype=np.int64)
    out[1:] = nxt[matched[:-1]]
    return out


def listening_table(
    takes: Sequence[Take],
    answers: dict[str, list[np.ndarray]],
    rate_hz: int,
    config: ListeningConfig = ListeningConfig(),
) -> dict[str, dict[str, ListeningScore]]:
    """Scores of every answer set (method -> one audio per take at ``rate_hz``), plus the true answer's."""
    if len(takes) < 2:
        log.warning("listening gain needs two or more held-out pieces (one answer under another's performer); it is NaN here")
    performers: list[Track] = [analyse(t.performer, PERCEPTION_RATE_HZ, config) for t in tqdm(takes, desc="pitch-tracking performers", unit="piece", disable=None)]
    table = {CEILING: score_answers(performers, [analyse(t.answer, PERCEPTION_RATE_HZ, config) for t in takes], config)}
    for method, audio in tqdm(answers.items(), desc="pitch-tracking answers", unit="method", disable=None):
        table[method] = score_answers(performers, [analyse(a, rate_hz, config) for a in audio], config)
    return table


def format_listening(table: dict[str, dict[str, ListeningScore]]) -> str:
    head = f"{'answer':<66} {'consonance':>10} {'other':>6} {'gain':>7}   {'onset F':>7} {'other':>6} {'gain':>7}"
    lines = [head, "-" * len(head)]
    for method, s in table.items():
        c, o = s["consonance"], s["onset_f"]
        lines.append(f"{method:<66} {c.matched:10.3f} {c.mismatched:6.3f} {c.gain:+7.3f}   {o.matched:7.3f} {o.mismatched:6.3f} {o.gain:+7.3f}")
    return "\n".join(lines)


def markdown_listening(table: dict[str, dict[str, ListeningScore]]) -> str:
    lines = [
        "| answer | consonance, matched | under other pieces | harmonic gain | onset F, matched | under other pieces | rhythmic gain |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method, s in table.items():
        c, o = s["consonance"], s["onset_f"]
        lines.append(f"| {method} | {c.matched:.3f} | {c.mismatched:.3f} | **{c.gain:+.3f}** | {o.matched:.3f} | {o.mismatched:.3f} | {o.gain:+.3f} |")
    return "\n".join(lines)


def listening_json(table: dict[str, dict[str, ListeningScore]], config: ListeningConfig) -> dict[str, Any]:
    return {"config": config.to_dict(), "answers": {m: {k: v.to_dict() for k, v in s.items()} for m, s in table.items()}}
