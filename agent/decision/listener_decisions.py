"""A listener deciding chunk by chunk: feature in, grain out (shared by the agent and evaluation).

The corpus's grain keys are computed once (when the agent or the evaluation is built); each step
costs one Transformer step and one matrix-vector product over the corpus's grains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agent.decision.listener import FeatureStats, ListenerModel, grain_key_inputs
from agent.playback.grain_selection import Choice, GrainSelector, mean_run_length


class ListenerDecider:
    """Streaming decisions of a listener over one corpus."""

    def __init__(self, model: ListenerModel, stats: FeatureStats, corpus: Any) -> None:
        self.model = model.eval()
        self.stats = stats
        g = corpus.grains
        inputs = grain_key_inputs(stats.answer(g.feature), stats.source(g.source_feature), g.piece)
        with torch.inference_mode():
            self.keys = model.keys(torch.from_numpy(inputs))
        self.reset()

    def reset(self) -> None:
        self.state = self.model.initial_state(1)

    def step(self, feature: np.ndarray) -> tuple[np.ndarray, int]:
        """(score of every grain, predicted next label) after hearing one chunk's raw feature."""
        with torch.inference_mode():
            query, logits, self.state = self.model.step(self.state, self.stats.source(feature))
            scores = self.model.scores(query[0], self.keys)
        return scores.numpy(), int(logits[0].argmax())

    def decide(self, feature: np.ndarray, selector: GrainSelector, temperature: float, top_p: float, rng: np.random.Generator) -> tuple[int, Choice]:
        scores, label = self.step(feature)
        return label, selector.choose_scored(scores, temperature, top_p, rng)


def listen_through(decider: ListenerDecider, features: np.ndarray, selector: GrainSelector) -> tuple[np.ndarray, list[Choice]]:
    """Greedy decisions over a whole take's chunk features, as live: (predicted labels for chunks
    1..n-1, the grain choices for chunks 1..n-1)."""
    decider.reset()
    selector.reset()
    rng = np.random.default_rng(0)  # unused at temperature 0
    labels, choices = [], []
    for feature in features[:-1]:
        label, choice = decider.decide(feature, selector, 0.0, 1.0, rng)
        labels.append(label)
        choices.append(choice)
    return np.array(labels, dtype=np.int64), choices


def listener_decisions(bundle: Any, corpus: Any, takes: list[Any], selector: GrainSelector) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """A listener over held-out takes, greedy as evaluated: (predicted labels for chunks 1..n-1 per
    take, the grain per chunk with -1 at chunk 0, the mean run of consecutive corpus grains)."""
    decider = ListenerDecider(bundle.model, bundle.feature_stats, corpus)
    heard = [listen_through(decider, take.source_features, selector) for take in takes]
    grains = [np.array([-1] + [c.grain for c in choices], dtype=np.int64) for _, choices in heard]
    return [labels for labels, _ in heard], grains, float(np.mean([mean_run_length(choices) for _, choices in heard]))


def listener_labels(bundle: Any, takes: list[Any]) -> list[np.ndarray]:
    """The label head's predictions alone over held-out takes (chunks 1..n-1 per take), stepped
    exactly as ``ListenerDecider.step`` does, without scoring or choosing any grain: what a
    labels-only evaluation needs (the corpus's grains do not enter the labels)."""
    model, stats = bundle.model.eval(), bundle.feature_stats
    out = []
    with torch.inference_mode():
        for take in takes:
            state, labels = model.initial_state(1), []
            for feature in take.source_features[:-1]:
                _, logits, state = model.step(state, stats.source(feature))
                labels.append(int(logits[0].argmax()))
            out.append(np.array(labels, dtype=np.int64))
    return out
