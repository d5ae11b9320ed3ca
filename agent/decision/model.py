"""The decision model: a small decoder-only Transformer over (performer label, own previous label).

At step t the input token is the sum of two embeddings: the performer's label of chunk t, and the
answer label the agent played last (``start_token`` before it has played anything). The output is
a distribution over the answer's label for chunk ``t + anticipation_chunks``.

Causality and constant cost: attention is limited to a sliding window of ``context_chunks`` steps
(the step itself and the ones before it) and positions enter only through ALiBi distance biases
(Press et al., 2022), never through absolute position embeddings. So the streaming step keeps a
ring buffer of keys and values of fixed size, a performance of any length costs the same per step,
and ``forward`` on a whole sequence (with the same window mask) gives the same logits as stepping.
Stacked layers widen what a step can be influenced by to ``receptive_field_chunks`` =
``num_layers * (context_chunks - 1) + 1`` inputs; anything older has no effect at all.

Thread ownership: a ``DecisionState`` belongs to the one thread that steps it (the engine worker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from agent.decision.config import DecisionConfig


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Per-head slopes of the distance penalty: 2^(-8/H), 2^(-16/H), ... (ALiBi)."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)], dtype=torch.float32)


def window_bias(length: int, context_chunks: int, slopes: torch.Tensor) -> torch.Tensor:
    """[H, T, T] additive attention bias: -slope * distance inside the causal window, -inf outside."""
    pos = torch.arange(length)
    distance = pos[:, None] - pos[None, :]
    allowed = (distance >= 0) & (distance < context_chunks)
    bias = -slopes[:, None, None] * distance.clamp(min=0).to(torch.float32)[None]
    return bias.masked_fill(~allowed[None], float("-inf"))


@dataclass
class DecisionState:
    """Streaming state: ring buffers of keys/values per layer and the absolute position of each slot.

    ``keys``/``values``: [layers, batch, heads, context_chunks, head_dim]; ``slot_position``:
    [context_chunks] (-1 = empty); ``position``: the index of the next step. Fixed size for life.
    """

    keys: torch.Tensor
    values: torch.Tensor
    slot_position: torch.Tensor
    position: int = 0


def empty_state(config: Any, batch: int, dtype: torch.dtype) -> DecisionState:
    """A fresh streaming state for a windowed model of this shape (layers, heads, window, head size)."""
    shape = (config.num_layers, batch, config.num_heads, config.context_chunks, config.head_dim)
    return DecisionState(
        keys=torch.zeros(shape, dtype=dtype),
        values=torch.zeros(shape, dtype=dtype),
        slot_position=torch.full((config.context_chunks,), -1, dtype=torch.int64),
    )


def step_bias(state: DecisionState, slopes: torch.Tensor, context_chunks: int) -> tuple[int, torch.Tensor]:
    """Claim the ring slot of the state's next position; its [H, 1, C] ALiBi bias over the ring."""
    slot = state.position % context_chunks
    state.slot_position[slot] = state.position
    distance = (state.position - state.slot_position).to(torch.float32)
    bias = -slopes[:, None] * distance[None, :]
    bias = bias.masked_fill((state.slot_position < 0)[None, :], float("-inf"))
    return slot, bias[:, None, :].to(state.keys.dtype)


class _Block(nn.Module):
    def __init__(self, config: DecisionConfig) -> None:
        super().__init__()
        self.heads = config.num_heads
        self.head_dim = config.head_dim
        self.norm_attn = nn.LayerNorm(config.width)
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.out = nn.Linear(config.width, config.width)
        self.norm_ffn = nn.LayerNorm(config.width)
        self.ffn_in = nn.Linear(config.width, config.ffn_width)
        self.ffn_out = nn.Linear(config.ffn_width, config.width)
        self.dropout = nn.Dropout(config.dropout)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        q, k, v = self.qkv(self.norm_attn(x)).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v  # each [B, H, T, Dh]

    def _merge(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = attended.shape
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(b, t, -1)))
        return x + self.dropout(self.ffn_out(self.dropout(F.gelu(self.ffn_in(self.norm_ffn(x))))))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(x)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)) + bias
        weights = self.dropout(torch.softmax(scores, dim=-1))
        return self._merge(x, weights @ v)

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slot: int, bias: torch.Tensor) -> torch.Tensor:
        """One position: ``x`` [B, 1, W]; writes its key/value into ring ``slot`` of ``keys``/``values`` [B, H, C, Dh]."""
        q, k, v = self._split(x)
        keys[:, :, slot] = k[:, :, 0]
        values[:, :, slot] = v[:, :, 0]
        scores = (q @ keys.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)) + bias
        return self._merge(x, torch.softmax(scores, dim=-1) @ values)


class DecisionModel(nn.Module):
    """Causal, windowed Transformer: (performer labels, own previous labels) -> next answer label logits."""

    def __init__(self, config: DecisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_source = nn.Embedding(config.vocab_size, config.width)
        self.embed_answer = nn.Embedding(config.vocab_size, config.width)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.num_labels)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("slopes", alibi_slopes(config.num_heads), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _check_tokens(self, tokens: torch.Tensor, what: str, limit: int) -> None:
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= limit):
            raise ValueError(f"{what} tokens must be in 0..{limit - 1}")

    def forward(self, source: torch.Tensor, answer_prev: torch.Tensor) -> torch.Tensor:
        """Whole-sequence causal pass. ``source``, ``answer_prev``: int64 [B, T] -> logits [B, T, num_labels]."""
        self._check_tokens(source, "source", self.config.num_labels)
        self._check_tokens(answer_prev, "answer", self.config.vocab_size)
        x = self.dropout(self.embed_source(source) + self.embed_answer(answer_prev))
        bias = window_bias(source.shape[1], self.config.context_chunks, self.slopes).to(x.dtype)
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.norm(x))

    def initial_state(self, batch: int = 1) -> DecisionState:
        return empty_state(self.config, batch, self.head.weight.dtype)

    @torch.no_grad()
    def step(self, state: DecisionState, source_label: torch.Tensor | int, answer_prev: torch.Tensor | int) -> tuple[torch.Tensor, DecisionState]:
        """One chunk: the performer's label and the agent's last label -> (logits [B, num_labels], state).

        The state's buffers are updated in place (fixed size: the oldest step is overwritten once
        the window is full) and returned for clarity.
        """
        batch = state.keys.shape[1]
        source = torch.as_tensor(source_label, dtype=torch.int64).reshape(batch, 1)
        answer = torch.as_tensor(answer_prev, dtype=torch.int64).reshape(batch, 1)
        self._check_tokens(source, "source", self.config.num_labels)
        self._check_tokens(answer, "answer", self.config.vocab_size)
        slot, bias = step_bias(state, self.slopes, self.config.context_chunks)
        x = self.embed_source(source) + self.embed_answer(answer)
        for layer, block in enumerate(self.blocks):
            x = block.step(x, state.keys[layer], state.values[layer], slot, bias)
        state.position += 1
        return self.head(self.norm(x))[:, 0], state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
