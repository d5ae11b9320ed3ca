"""The decision model's configuration: a frozen dataclass saved as ``config.json`` beside the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from agent.errors import AntiphonError, require

MODEL_FORMAT = "antiphon-decision"
MODEL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DecisionConfig:
    """Shape of the causal Transformer that maps the performer's labels to the answer's labels.

    Token ids: ``0..num_labels-1`` are codebook labels; ``start_token`` (= ``num_labels``) stands
    for "the agent has played nothing yet". ``context_chunks`` is the attention window: each step
    sees itself and the ``context_chunks - 1`` steps before it, so a performance of any length runs
    at constant cost. ``anticipation_chunks``: 1 means the step fed with the performer's chunk t
    predicts the answer for chunk t+1 (what plays next, live); 0 predicts the answer for chunk t
    itself (only usable offline, or live with one chunk of extra latency).
    """

    num_labels: int = 32
    num_layers: int = 3
    width: int = 128
    num_heads: int = 4
    ffn_width: int = 384
    context_chunks: int = 64
    dropout: float = 0.1
    anticipation_chunks: int = 1

    def __post_init__(self) -> None:
        checks = [
            (2 <= self.num_labels <= 4096, f"num_labels must be 2..4096, got {self.num_labels}"),
            (1 <= self.num_layers <= 24, f"num_layers must be 1..24, got {self.num_layers}"),
            (1 <= self.num_heads <= 32, f"num_heads must be 1..32, got {self.num_heads}"),
            (self.width > 0 and self.width % self.num_heads == 0, f"width ({self.width}) must be a positive multiple of num_heads ({self.num_heads})"),
            (self.ffn_width > 0, f"ffn_width must be positive, got {self.ffn_width}"),
            (2 <= self.context_chunks <= 4096, f"context_chunks must be 2..4096, got {self.context_chunks}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.anticipation_chunks in (0, 1), f"anticipation_chunks must be 0 or 1, got {self.anticipation_chunks}"),
        ]
        require(checks, "decision config: ")

    @property
    def start_token(self) -> int:
        return self.num_labels

    @property
    def vocab_size(self) -> int:
        """Input vocabulary: the labels plus the start token."""
        return self.num_labels + 1

    @property
    def receptive_field_chunks(self) -> int:
        """How many past inputs (including the current one) can influence a step's output."""
        return self.num_layers * (self.context_chunks - 1) + 1

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.json") -> "DecisionConfig":
        if not isinstance(data, dict):
            raise AntiphonError(f"{where}: 'model' must be a JSON object")
        names = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise AntiphonError(f"{where}: unknown decision-model field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            want = float if name == "dropout" else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (want is int and not isinstance(value, int)):
                raise AntiphonError(f"{where}: field '{name}' must be a{'n integer' if want is int else ' number'}, got {value!r}")
            values[name] = want(value)
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """How the decision model is trained (saved in its config.json under "training")."""

    max_epochs: int = 60
    batch_size: int = 16
    crop_chunks: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    label_smoothing: float = 0.1
    answer_dropout: float = 1.0
    patience_epochs: int = 8
    validation_fraction: float = 0.1
    select_on: str = "loss"  # which validation figure picks the kept epoch: "free-running" accuracy or teacher-forced "loss"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.max_epochs >= 1, "max_epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.crop_chunks >= 2, "crop_chunks must be at least 2"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 <= self.answer_dropout <= 1, "answer_dropout must be in [0, 1]"),
            (self.patience_epochs >= 1, "patience_epochs must be at least 1"),
            (0 < self.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
            (self.select_on in ("free-running", "loss"), "select_on must be 'free-running' or 'loss'"),
        ]
        require(checks, "training config: ")
