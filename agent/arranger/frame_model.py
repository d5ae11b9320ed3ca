"""The arranger's frame model (chords or beats): causal per frame, so the live arranger can run it as audio arrives.

Input features [B, T, bins + 1] (agent/arranger/spectrum.py) -> a linear layer -> dilated
causal convolutions (kernel 3, dilation 1, 2, 4, ...; residual) -> one GRU -> logits over the
classes per frame (25 majmin chords, or none / beat / downbeat). Nothing after frame t changes the output at t. ``step`` runs one frame
at a time with a small state (the last frames the convolutions need, the GRU's hidden state) and
equals ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from agent.arranger.frame_config import SpectrumConfig, FrameModelConfig


class _CausalConv(nn.Module):
    def __init__(self, width: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(width, width, kernel_size=3, dilation=dilation)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    @property
    def history(self) -> int:
        return 2 * self.dilation  # frames before t the kernel reads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, W] -> [B, T, W]; frames before the start count as zeros."""
        y = self.conv(F.pad(x.transpose(1, 2), (self.history, 0))).transpose(1, 2)
        return self.norm(x + self.dropout(F.gelu(y)))

    def last(self, window: torch.Tensor) -> torch.Tensor:
        """The output at the last frame of ``window`` [B, history + 1, W]."""
        y = self.conv(window.transpose(1, 2)).transpose(1, 2)[:, -1:]
        return self.norm(window[:, -1:] + F.gelu(y))


@dataclass
class FrameState:
    """What ``step`` carries from frame to frame."""

    windows: list[torch.Tensor]  # per conv layer: its last ``history + 1`` input frames [B, h + 1, W]
    hidden: torch.Tensor | None  # the GRU's [1, B, W]


class FrameModel(nn.Module):
    def __init__(self, config: FrameModelConfig, features: SpectrumConfig) -> None:
        super().__init__()
        self.config = config
        self.features = features
        w = config.width
        self.input = nn.Linear(features.dim, w)
        self.convs = nn.ModuleList(_CausalConv(w, 2**i, config.dropout) for i in range(config.conv_layers))
        self.gru = nn.GRU(w, w, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(w, config.num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, T, D] -> logits [B, T, classes], causal."""
        self._check(features)
        x = self.input(features)
        for conv in self.convs:
            x = conv(x)
        x, _ = self.gru(x)
        return self.output(self.dropout(x))

    def _check(self, features: torch.Tensor) -> None:
        if features.ndim != 3 or features.shape[-1] != self.features.dim:
            raise ValueError(f"frame-model features must be [B, T, {self.features.dim}], got {tuple(features.shape)}")

    def initial_state(self, batch: int = 1) -> FrameState:
        w = self.config.width
        return FrameState(windows=[torch.zeros(batch, conv.history + 1, w) for conv in self.convs], hidden=None)

    @torch.no_grad()
    def step(self, state: FrameState, frame: torch.Tensor) -> tuple[torch.Tensor, FrameState]:
        """One frame [B, D] -> (logits [B, classes], state)."""
        x = self.input(frame.reshape(frame.shape[0], 1, -1))
        windows = []
        for conv, window in zip(self.convs, state.windows):
            window = torch.cat([window[:, 1:], x], dim=1)
            windows.append(window)
            x = conv.last(window)
        x, hidden = self.gru(x, state.hidden)
        return self.output(x)[:, 0], FrameState(windows=windows, hidden=hidden)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
