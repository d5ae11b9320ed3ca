"""The decision model's configuration: a frozen dataclass saved as ``config.json`` beside the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import require
from agent.files import typed_config
from agent.paths import is_plain_name

MODEL_FORMAT = "antiphon-decision"
MODEL_FORMAT_VERSION = 2  # 2: "kind" (labels or listener); version 1 folders are label models and still load
READABLE_MODEL_FORMAT_VERSIONS = (1, 2)


# Upper bounds: far above any model that runs live, low enough that a hostile config.json cannot
# make the loader allocate gigabytes (MAX_PARAMETERS float32 weights are 200 MB).
MAX_WIDTH = 4096
MAX_FFN_WIDTH = 16384
MAX_PARAMETERS = 50_000_000


def _trunk_parameters(c: Any) -> int:
    """About how many weights the Transformer trunk holds (attention and feed-forward of every layer)."""
    return c.num_layers * (4 * c.width * c.width + 2 * c.width * c.ffn_width)


def _trunk_checks(c: Any) -> list[tuple[bool, str]]:
    """Checks shared by both decision models' Transformer trunk."""
    return [
        (2 <= c.num_labels <= 4096, f"num_labels must be 2..4096, got {c.num_labels}"),
        (1 <= c.num_layers <= 24, f"num_layers must be 1..24, got {c.num_layers}"),
        (1 <= c.num_heads <= 32, f"num_heads must be 1..32, got {c.num_heads}"),
        (0 < c.width <= MAX_WIDTH and c.width % c.num_heads == 0,
         f"width ({c.width}) must be a multiple of num_heads ({c.num_heads}) in 1..{MAX_WIDTH}"),
        (1 <= c.ffn_width <= MAX_FFN_WIDTH, f"ffn_width must be 1..{MAX_FFN_WIDTH}, got {c.ffn_width}"),
        (2 <= c.context_chunks <= 4096, f"context_chunks must be 2..4096, got {c.context_chunks}"),
        (0.0 <= c.dropout < 1.0, f"dropout must be in [0, 1), got {c.dropout}"),
    ]


def _size_check(c: Any, parameters: int) -> tuple[bool, str]:
    return (parameters <= MAX_PARAMETERS,
            f"about {parameters:,} weights (num_layers x width x ffn_width); at most {MAX_PARAMETERS:,} are loaded")


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
            *_trunk_checks(self),
            (self.anticipation_chunks in (0, 1), f"anticipation_chunks must be 0 or 1, got {self.anticipation_chunks}"),
        ]
        require(checks, "decision config: ")
        require([_size_check(self, _trunk_parameters(self) + 3 * self.vocab_size * self.width)], "decision config: ")

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
        return typed_config(cls, data, where, "model", what="decision-model")


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
    label_weight: float = 1.0  # listener: weight of the next-label cross-entropy beside the grain loss
    answer_dropout: float = 1.0
    patience_epochs: int = 8
    validation_fraction: float = 0.1
    select_on: str = "loss"  # which validation figure picks the kept epoch: "free-running" accuracy or teacher-forced "loss"
    negatives: int = 4_096  # listener: grains scored per batch when the corpus holds more (a uniform sample; 0 = all)
    default_corpus: str = ""  # corpora/<name> the model plays by default ("": the corpus it was trained on)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.max_epochs >= 1, "max_epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.crop_chunks >= 2, "crop_chunks must be at least 2"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.label_weight >= 0, "label_weight must be 0 or positive"),
            (0 <= self.answer_dropout <= 1, "answer_dropout must be in [0, 1]"),
            (self.patience_epochs >= 1, "patience_epochs must be at least 1"),
            (0 < self.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
            (self.select_on in ("free-running", "loss"), "select_on must be 'free-running' or 'loss'"),
            (self.negatives >= 0, "negatives must be 0 (all grains) or positive"),
            (self.default_corpus == "" or is_plain_name(self.default_corpus), "default_corpus must be one folder name under corpora/ (no path separator, not . or ..)"),
        ]
        require(checks, "training config: ")


@dataclass(frozen=True)
class ListenerConfig:
    """Shape of the *listener*: a causal Transformer over the performer's feature vectors that
    scores every corpus grain as the answer for the next chunk (and predicts its label).

    Step t reads the performer's standardised feature of chunk t (no labels: the feature keeps the
    pitch the codebook loses) and outputs a query vector; a grain's key is computed from its own
    answer feature and its recorded performer context (the source features of the chunk before it
    and of its own chunk). The grain whose key best matches the query plays at chunk t + 1. The
    answer's label for chunk t + 1 is predicted too (for label accuracy and the trace).
    """

    feature_dim: int = 128
    num_labels: int = 16
    num_layers: int = 3
    width: int = 128
    num_heads: int = 4
    ffn_width: int = 384
    context_chunks: int = 64
    dropout: float = 0.1
    key_dim: int = 64
    anticipation_chunks: int = 1
    label_hidden: int = 0  # label head: 0 = one linear layer on the trunk; > 0 = an MLP of this width (``antiphon fit-label-head``)
    # the reported label mixes in the label mass of the grains the query scores (0 = the head alone; fitted by ``fit-label-head``)
    label_grain_weight: float = 0.0
    label_grain_temperature: float = 1.0

    def __post_init__(self) -> None:
        require(
            [
                (1 <= self.feature_dim <= 8192, f"feature_dim must be 1..8192, got {self.feature_dim}"),
                *_trunk_checks(self),
                (1 <= self.key_dim <= 1024, f"key_dim must be 1..1024, got {self.key_dim}"),
                (self.anticipation_chunks == 1, f"anticipation_chunks must be 1 for a listener, got {self.anticipation_chunks}"),
                (0 <= self.label_hidden <= MAX_FFN_WIDTH, f"label_hidden must be 0..{MAX_FFN_WIDTH}, got {self.label_hidden}"),
                (0 <= self.label_grain_weight <= 100, f"label_grain_weight must be 0..100, got {self.label_grain_weight}"),
                (0 < self.label_grain_temperature <= 100, f"label_grain_temperature must be above 0 and at most 100, got {self.label_grain_temperature}"),
            ],
            "listener config: ",
        )
        head = self.num_labels * self.width if self.label_hidden == 0 else (self.width + self.num_labels) * self.label_hidden
        inputs = (4 * self.feature_dim + self.key_dim) * self.width + self.feature_dim * self.key_dim + head
        require([_size_check(self, _trunk_parameters(self) + inputs)], "listener config: ")

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    @property
    def start_token(self) -> int:
        return self.num_labels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.json") -> "ListenerConfig":
        return typed_config(cls, data, where, "model", what="decision-model")


@dataclass(frozen=True)
class LabelHeadConfig:
    """How the label head is fitted (recorded in the model's config.json, training.label_head)."""

    hidden_width: int = 512
    max_epochs: int = 12
    patience_epochs: int = 3
    batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    # the label mix with the grain scores (listener.label_log_scores), chosen on the validation pieces
    # among these weights x temperatures against the head alone; no weights: not fitted (weight 0)
    grain_mix_weights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    grain_mix_temperatures: tuple[float, ...] = (1.0, 2.0, 4.0)

    def __post_init__(self) -> None:
        require([
            (1 <= self.hidden_width <= 4096, f"hidden_width must be 1..4096, got {self.hidden_width}"),
            (all(0 < w <= 100 for w in self.grain_mix_weights), f"grain_mix_weights must be above 0 and at most 100, got {self.grain_mix_weights}"),
            (len(self.grain_mix_temperatures) >= 1 and all(0 < t <= 100 for t in self.grain_mix_temperatures),
             f"grain_mix_temperatures must be at least one value above 0 and at most 100, got {self.grain_mix_temperatures}"),
            (self.max_epochs >= 1, "max_epochs must be at least 1"),
            (self.patience_epochs >= 1, "patience_epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.weight_decay >= 0, "weight_decay must be 0 or positive"),
            (self.seed >= 0, "seed must be 0 or positive"),
        ], "label head config: ")
