"""The architecture of Antiphon's own small Wav2Vec2 (model definition only; training is in
``agent/perception/pretrain.py``, serving in ``agent/perception/wav2vec2.py``).

A scaled-down wav2vec 2.0: the same convolutional feature encoder layout (seven layers, 20 ms
frames at 16 kHz), a narrow Transformer and a small product quantizer for the contrastive
objective. Sized so that one 0.25 s chunk costs a few milliseconds on one CPU thread and the saved
encoder weighs about a megabyte.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from agent.errors import AntiphonError

CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)  # as wav2vec2-base: 400-sample receptive field, 320-sample stride
CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)


@dataclass(frozen=True)
class SmallWav2Vec2Config:
    """Sizes of the small Wav2Vec2 (saved beside the pretrained model as ``architecture.json``)."""

    conv_channels: int = 96
    hidden_size: int = 128
    num_layers: int = 3
    num_heads: int = 4
    ffn_size: int = 256
    positional_kernel: int = 32  # convolutional relative position embedding, in frames
    positional_groups: int = 8
    codevector_groups: int = 2
    codevectors_per_group: int = 64
    codevector_dim: int = 64  # quantized target size (split over the groups)
    proj_codevector_dim: int = 64  # size of the space where context and targets are compared
    mask_time_prob: float = 0.5
    mask_time_length_frames: int = 5
    num_negatives: int = 50
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("mask_time_prob", "dropout"):
                if not 0.0 <= value < 1.0:
                    raise AntiphonError(f"{f.name} must be in [0, 1), got {value}")
            elif value < 1:
                raise AntiphonError(f"{f.name} must be at least 1, got {value}")
        if self.hidden_size % self.num_heads:
            raise AntiphonError(f"hidden_size ({self.hidden_size}) must be a multiple of num_heads ({self.num_heads})")
        if self.hidden_size % self.positional_groups:
            raise AntiphonError(f"hidden_size ({self.hidden_size}) must be a multiple of positional_groups ({self.positional_groups})")
        if self.codevector_dim % self.codevector_groups:
            raise AntiphonError(f"codevector_dim ({self.codevector_dim}) must be a multiple of codevector_groups ({self.codevector_groups})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SmallWav2Vec2Config":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise AntiphonError(f"unknown architecture fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def transformers_config(self):  # noqa: ANN201 - transformers.Wav2Vec2Config
        from transformers import Wav2Vec2Config

        return Wav2Vec2Config(
            vocab_size=1,
            pad_token_id=0,
            bos_token_id=None,
            eos_token_id=None,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.ffn_size,
            hidden_dropout=self.dropout,
            attention_dropout=self.dropout,
            activation_dropout=0.0,
            feat_proj_dropout=self.dropout,
            feat_quantizer_dropout=0.0,
            final_dropout=0.0,
            layerdrop=0.0,
            feat_extract_norm="group",
            feat_extract_activation="gelu",
            conv_dim=(self.conv_channels,) * len(CONV_KERNEL),
            conv_stride=CONV_STRIDE,
            conv_kernel=CONV_KERNEL,
            conv_bias=False,
            num_conv_pos_embeddings=self.positional_kernel,
            num_conv_pos_embedding_groups=self.positional_groups,
            do_stable_layer_norm=False,
            apply_spec_augment=True,
            mask_time_prob=self.mask_time_prob,
            mask_time_length=self.mask_time_length_frames,
            mask_time_min_masks=2,
            mask_feature_prob=0.0,
            num_codevectors_per_group=self.codevectors_per_group,
            num_codevector_groups=self.codevector_groups,
            contrastive_logits_temperature=0.1,
            num_negatives=self.num_negatives,
            codevector_dim=self.codevector_dim,
            proj_codevector_dim=self.proj_codevector_dim,
            diversity_loss_weight=0.1,
        )


def new_pretraining_model(config: SmallWav2Vec2Config, seed: int):  # noqa: ANN201 - Wav2Vec2ForPreTraining
    """A freshly initialised ``Wav2Vec2ForPreTraining`` (same seed, same weights)."""
    import torch
    from transformers import Wav2Vec2ForPreTraining
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor bars when saving
    torch.manual_seed(seed)
    return Wav2Vec2ForPreTraining(config.transformers_config())
