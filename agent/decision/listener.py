"""The listener: performer features in, a score for every corpus grain out.

Why not labels: a k-means label of 16 (or 512) loses most of the pitch that makes a bass fit a
melody; the Wav2Vec2 features keep it (see docs/listening.md). So the listener reads the
performer's standardised feature per chunk and emits a *query*; every grain of the corpus has a
*key* computed from what it is (its answer feature) and where it was recorded (its performer
context: the source features of the chunk before it and of its own chunk). The grain whose key
matches the query best is the answer for the next chunk. Nothing about pitch, intervals or
consonance is written anywhere: the relation is learned from the corpus's pairs (training targets
are the grains that sound like the true next answer chunk, see ``train_listener``).

The trunk is the decision model's windowed causal Transformer (ALiBi, sliding window, KV-cache
ring), so ``step`` runs at constant cost for a performance of any length and equals ``forward``.
A label head predicts the answer's codebook label for the next chunk (label accuracy, trace); the
reported label may also weigh the label mass of the grains the query scores (``label_log_scores``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agent.decision.config import ListenerConfig
from agent.decision.model import DecisionState, _Block, alibi_slopes, empty_state, step_bias, window_bias


STATS_FILE = "listener_stats.npy"


class FeatureStats:
    """Per-track standardisation of the listener's inputs: mean and std of the performer's and of
    the answer's features over the training pieces (saved beside the weights as [4, D] float32)."""

    def __init__(self, array: np.ndarray) -> None:
        a = np.asarray(array, dtype=np.float32)
        self.array = a
        self.source_mean, self.source_std, self.answer_mean, self.answer_std = a

    @classmethod
    def fit(cls, source: np.ndarray, answer: np.ndarray) -> "FeatureStats":
        def std(x: np.ndarray) -> np.ndarray:
            s = x.std(axis=0)
            return np.where(s > 1e-6, s, 1.0)

        return cls(np.stack([source.mean(axis=0), std(source), answer.mean(axis=0), std(answer)]))

    def source(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.source_mean) / self.source_std).astype(np.float32)

    def answer(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.answer_mean) / self.answer_std).astype(np.float32)


def grain_key_inputs(answer: np.ndarray, source: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """[n, 3D] key inputs per grain (standardised features, grains in piece/time order): its answer
    feature, the performer feature of the chunk before it (its own at a piece's start), its own."""
    prev = np.arange(len(piece)) - 1
    first = (prev < 0) | (piece[np.maximum(prev, 0)] != piece)
    prev = np.where(first, np.arange(len(piece)), prev)
    return np.concatenate([answer, source[prev], source], axis=1).astype(np.float32)


def label_head(config: ListenerConfig) -> nn.Module:
    """The next-label head on the trunk's output: linear, or (``label_hidden`` > 0) a one-hidden-layer
    MLP, which ``antiphon fit-label-head`` fits on a frozen trunk (agent/decision/label_head.py)."""
    if config.label_hidden == 0:
        return nn.Linear(config.width, config.num_labels)
    return nn.Sequential(nn.Linear(config.width, config.label_hidden), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.label_hidden, config.num_labels))


def grain_keys(model: ListenerModel, stats: FeatureStats, grains: Any, rows: np.ndarray | None = None) -> torch.Tensor:
    """The keys [M, E] of a corpus's grains (``rows``: a mask or indices of the grains wanted; None: all)."""
    inputs = grain_key_inputs(stats.answer(grains.feature), stats.source(grains.source_feature), grains.piece)
    with torch.inference_mode():
        return model.keys(torch.from_numpy(inputs if rows is None else inputs[rows]))


def label_onehot(labels: np.ndarray, num_labels: int) -> torch.Tensor:
    """[M, K] float one-hot of the grains' labels (what ``label_log_scores`` sums the grain mass with)."""
    return F.one_hot(torch.from_numpy(np.asarray(labels, dtype=np.int64)), num_labels).float()


def label_log_scores(config: ListenerConfig, logits: torch.Tensor, scores: torch.Tensor | None = None,
                     onehot: torch.Tensor | None = None, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The listener's belief about the next answer label, [..., K] (argmax = the reported label): the
    label head's log-probabilities, plus ``label_grain_weight`` x the log of the probability mass that
    a softmax of the grain ``scores`` [..., M] (at ``label_grain_temperature``, over the ``allowed``
    grains only) puts on each label (``onehot`` [M, K], ``label_onehot``). Both parts are the model's
    own outputs; the weight and temperature are fitted on validation pieces (``antiphon
    fit-label-head``). Weight 0: the head alone (then ``scores`` may be None)."""
    head = F.log_softmax(logits, dim=-1)
    if config.label_grain_weight == 0:
        return head
    if scores is None or onehot is None:
        raise ValueError("a label mix with the grains needs the grain scores and the grains' labels")
    return head + config.label_grain_weight * grain_label_log_mass(scores, config.label_grain_temperature, onehot, allowed)


def grain_label_log_mass(scores: torch.Tensor, temperature: float, onehot: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """[..., K] log of the mass a softmax of grain ``scores`` [..., M] / ``temperature`` over the
    ``allowed`` grains puts on each label (``onehot`` [M, K]); a label no grain has: log 1e-9."""
    s = scores / temperature
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    return torch.log((torch.softmax(s, dim=-1) @ onehot).clamp_min(1e-9))


class ListenerModel(nn.Module):
    """Causal, windowed Transformer: performer features -> (grain query, next answer label logits)."""

    def __init__(self, config: ListenerConfig) -> None:
        super().__init__()
        self.config = config
        w, d, e = config.width, config.feature_dim, config.key_dim
        self.input = nn.Linear(d, w)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.num_layers))  # type: ignore[arg-type]
        self.norm = nn.LayerNorm(w)
        self.query = nn.Linear(w, e)
        self.query_direct = nn.Linear(d, e)  # the heard chunk itself, straight to the query
        self.key = nn.Sequential(nn.Linear(3 * d, w), nn.GELU(), nn.Linear(w, e))
        self.label_head = label_head(config)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("slopes", alibi_slopes(config.num_heads), persistent=False)
        self.scale = 1.0 / float(np.sqrt(e))

    def _check(self, features: torch.Tensor) -> None:
        if features.shape[-1] != self.config.feature_dim:
            raise ValueError(f"features must have dimension {self.config.feature_dim}, got {features.shape[-1]}")

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """The trunk's causal output [B, T, W] for features [B, T, D] (what the query and the label head read)."""
        self._check(features)
        x = self.dropout(self.input(features))
        bias = window_bias(features.shape[1], self.config.context_chunks, self.slopes).to(x.dtype)
        for block in self.blocks:
            x = block(x, bias)
        return self.norm(x)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole-sequence causal pass: float [B, T, D] -> (queries [B, T, E], label logits [B, T, K])."""
        h = self.hidden(features)
        return self.query(h) + self.query_direct(features), self.label_head(h)

    def keys(self, key_inputs: torch.Tensor) -> torch.Tensor:
        """Grain keys [M, E] from ``grain_key_inputs`` [M, 3D]."""
        return self.key(key_inputs)

    def scores(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Score of every grain for every query: [..., E] x [M, E] -> [..., M] (logits over grains)."""
        return (queries @ keys.T) * self.scale

    def initial_state(self, batch: int = 1) -> DecisionState:
        return empty_state(self.config, batch, self.input.weight.dtype)

    @torch.no_grad()
    def step(self, state: DecisionState, feature: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor, DecisionState]:
        """One chunk's standardised feature [D] (or [B, D]) -> (query [B, E], label logits [B, K], state)."""
        batch = state.keys.shape[1]
        f = torch.as_tensor(np.asarray(feature, dtype=np.float32) if not isinstance(feature, torch.Tensor) else feature, dtype=torch.float32)
        f = f.reshape(batch, 1, -1)
        self._check(f)
        slot, bias = step_bias(state, self.slopes, self.config.context_chunks)
        x = self.input(f)
        for layer, block in enumerate(self.blocks):
            x = block.step(x, state.keys[layer], state.values[layer], slot, bias)
        state.position += 1
        h = self.norm(x)
        return (self.query(h) + self.query_direct(f))[:, 0], self.label_head(h)[:, 0], state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def soft_target_loss(scores: torch.Tensor, target_index: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of grain scores [N, M] against soft targets: ``target_weight`` [N, k] on grains
    ``target_index`` [N, k] (the grains nearest to the true next answer chunk)."""
    logp = torch.gather(F.log_softmax(scores, dim=-1), 1, target_index)
    # a target the candidates exclude (weight 0, score -inf) adds nothing rather than 0 x -inf = NaN
    return -torch.where(target_weight > 0, logp * target_weight, torch.zeros_like(logp)).sum(dim=1).mean()
