"""A listener deciding chunk by chunk: feature in, grain out (shared by the agent and evaluation).

The corpus's grain keys are computed once (when the agent or the evaluation is built); each step
costs one Transformer step and one matrix-vector product over the corpus's grains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agent.decision.listener import FeatureStats, ListenerModel, grain_keys, label_log_scores, label_onehot
from agent.errors import AntiphonError
from agent.playback.grain_selection import Choice, GrainSelector, mean_run_length


class ListenerDecider:
    """Streaming decisions of a listener over one corpus; ``allowed`` [M] marks the grains it may
    play (None: all), which the label mix weighs too (the selector keeps them out of the choice)."""

    def __init__(self, model: ListenerModel, stats: FeatureStats, corpus: Any, allowed: np.ndarray | None = None) -> None:
        self.model = model.eval()
        self.stats = stats
        self.keys = grain_keys(model, stats, corpus.grains)
        self.allowed = None if allowed is None else torch.from_numpy(np.asarray(allowed, dtype=bool))
        self.onehot = None  # the grains' labels, for a label mix only
        if model.config.label_grain_weight:
            if self.allowed is not None and not bool(self.allowed.any()):
                raise AntiphonError("the corpus has no grain this listener may play (every piece excluded): its label mix has nothing to weigh")
            self.onehot = label_onehot(corpus.grains.label, model.config.num_labels)
        self.reset()

    def reset(self) -> None:
        self.state = self.model.initial_state(1)

    def step(self, feature: np.ndarray) -> tuple[np.ndarray, int]:
        """(score of every grain, predicted next label) after hearing one chunk's raw feature."""
        with torch.inference_mode():
            query, logits, self.state = self.model.step(self.state, self.stats.source(feature))
            scores = self.model.scores(query[0], self.keys)
            label = int(label_log_scores(self.model.config, logits[0], scores, self.onehot, self.allowed).argmax())
        return scores.numpy(), label

    def next_label(self, feature: np.ndarray) -> int:
        """The predicted next label alone after hearing one chunk (equals ``step``'s; the grains are
        scored only if the label mix weighs them)."""
        if self.onehot is not None:
            return self.step(feature)[1]
        with torch.inference_mode():
            _, logits, self.state = self.model.step(self.state, self.stats.source(feature))
        return int(logits[0].argmax())

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
    decider = ListenerDecider(bundle.model, bundle.feature_stats, corpus, selector.allowed)
    heard = [listen_through(decider, take.source_features, selector) for take in takes]
    grains = [np.array([-1] + [c.grain for c in choices], dtype=np.int64) for _, choices in heard]
    return [labels for labels, _ in heard], grains, float(np.mean([mean_run_length(choices) for _, choices in heard]))


def listener_labels(bundle: Any, corpus: Any, takes: list[Any], allowed: np.ndarray | None = None) -> list[np.ndarray]:
    """The predicted labels alone over held-out takes (chunks 1..n-1 per take), as ``ListenerDecider``
    steps them with the same ``allowed`` grains, without choosing any grain: what a labels-only
    evaluation needs (fast when the label head decides alone; the grains are scored only if the
    model's label mix weighs them)."""
    decider = ListenerDecider(bundle.model, bundle.feature_stats, corpus, allowed)
    out = []
    for take in takes:
        decider.reset()
        out.append(np.array([decider.next_label(feature) for feature in take.source_features[:-1]], dtype=np.int64))
    return out
