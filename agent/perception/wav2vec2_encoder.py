"""The Wav2Vec2 encoder's forward pass in plain torch, from a ``save_pretrained`` folder.

Perception needs only the forward pass up to one hidden state. transformers' ``Wav2Vec2Model``
computes the same thing, but importing its modeling code takes seconds (most of a rehearsal's or a
server's start-up), so playing and feature extraction run this module; transformers is imported
for pretraining only (agent/perception/pretrain.py) and by the tests, which check that both give
the same hidden states on the shipped encoder and on other architectures.

What it reads: config.json (``conv_dim``, ``conv_kernel``, ``conv_stride``, ``conv_bias``,
``feat_extract_norm`` "group" or "layer", ``hidden_size``, ``num_hidden_layers``,
``num_attention_heads``, ``intermediate_size``, ``num_conv_pos_embeddings``,
``num_conv_pos_embedding_groups``, ``do_stable_layer_norm``, ``layer_norm_eps``, activations
"gelu") and model.safetensors (the names ``save_pretrained`` writes; the positional convolution's
weight normalisation as ``parametrizations.weight.original0/1`` or the older ``weight_g/weight_v``).
``supported`` says whether a config is one of these; other checkpoints go through transformers.
Hidden state ``k`` is what transformers (5.x) returns as ``hidden_states[k]``: the input of layer
``k``, the last one being the last layer's output (with the pre-norm encoder, before the final layer
norm that its ``last_hidden_state`` adds). Only the layers below the asked one are run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from agent.errors import AntiphonError

ACTIVATIONS = ("gelu",)
CONV_NORM_EPS = 1e-5  # torch's default, which transformers' feature-encoder norms keep


def supported(config: dict[str, Any]) -> bool:
    """Whether this module runs the architecture ``config`` describes."""
    return (
        config.get("feat_extract_norm", "group") in ("group", "layer")
        and config.get("feat_extract_activation", "gelu") in ACTIVATIONS
        and config.get("hidden_act", "gelu") in ACTIVATIONS
        and not config.get("add_adapter", False)
        and config.get("position_embeddings_type") in (None, "conv")  # not the conformer variants
        and len(config.get("conv_dim", ())) == len(config.get("conv_kernel", ())) == len(config.get("conv_stride", ())) > 0
    )


class Wav2Vec2Encoder:
    """Inference only: raw 16 kHz audio [B, T] -> hidden state ``layer`` [B, frames, hidden]."""

    def __init__(self, config: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        self.c = config
        # a Wav2Vec2ForPreTraining or ForCTC folder names the encoder's weights "wav2vec2.<name>" beside its heads
        prefix = "wav2vec2."
        self.w = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)} or dict(weights)
        # older saves name the positional convolution's weight normalisation weight_g / weight_v
        for old, new in (("weight_g", "parametrizations.weight.original0"), ("weight_v", "parametrizations.weight.original1")):
            if f"encoder.pos_conv_embed.conv.{old}" in self.w:
                self.w[f"encoder.pos_conv_embed.conv.{new}"] = self.w.pop(f"encoder.pos_conv_embed.conv.{old}")
        self.eps = float(config.get("layer_norm_eps", 1e-5))
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.stable = bool(config.get("do_stable_layer_norm", False))
        self.pos_weight = self._positional_weight()

    @classmethod
    def load(cls, folder: Path, config: dict[str, Any]) -> "Wav2Vec2Encoder":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            weights = load_file(str(Path(folder) / "model.safetensors"))
        except (OSError, SafetensorError) as exc:
            raise AntiphonError(f"cannot load Wav2Vec2 folder '{folder}': {' '.join(str(exc).split())[:300]}") from exc
        encoder = cls(config, weights)
        encoder.check()
        return encoder

    def check(self) -> None:
        """Every weight the forward pass reads is there with the shape the config says (one line)."""
        try:
            with torch.inference_mode():
                self.hidden_state(torch.zeros(1, 1600), -1)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise AntiphonError(f"Wav2Vec2 weights do not fit their config.json: {' '.join(str(exc).split())[:300]}") from exc

    def _positional_weight(self) -> torch.Tensor:
        """The weight-normalised positional convolution's kernel: g * v / ||v|| (norm over all but the kernel axis)."""
        base = "encoder.pos_conv_embed.conv.parametrizations.weight."
        g, v = self.w[base + "original0"], self.w[base + "original1"]
        return g * v / v.norm(dim=(0, 1), keepdim=True)

    def model_tensors(self) -> dict[str, torch.Tensor]:
        """The weights under the names transformers' ``Wav2Vec2Model.state_dict()`` gives them (the
        encoder only, without a pretraining or CTC head): what the model's identity hash covers."""
        return self.w

    def _layer_norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _features(self, audio: torch.Tensor) -> torch.Tensor:
        """The convolutional feature encoder and the projection: [B, T] -> [B, frames, hidden]."""
        x = audio[:, None, :]
        for i, stride in enumerate(self.c["conv_stride"]):
            p = f"feature_extractor.conv_layers.{i}."
            x = F.conv1d(x, self.w[p + "conv.weight"], self.w.get(p + "conv.bias"), stride=int(stride))
            if self.c.get("feat_extract_norm", "group") == "layer":
                w = self.w
                x = F.layer_norm(x.transpose(1, 2), x.shape[1:2], w[p + "layer_norm.weight"], w[p + "layer_norm.bias"], CONV_NORM_EPS).transpose(1, 2)
            elif i == 0:
                x = F.group_norm(x, x.shape[1], self.w[p + "layer_norm.weight"], self.w[p + "layer_norm.bias"], CONV_NORM_EPS)
            x = F.gelu(x)
        x = self._layer_norm(x.transpose(1, 2), "feature_projection.layer_norm")
        return F.linear(x, self.w["feature_projection.projection.weight"], self.w["feature_projection.projection.bias"])

    def _positions(self, x: torch.Tensor) -> torch.Tensor:
        k = self.pos_weight.shape[-1]
        y = F.conv1d(x.transpose(1, 2), self.pos_weight, self.w["encoder.pos_conv_embed.conv.bias"], padding=k // 2,
                     groups=int(self.c["num_conv_pos_embedding_groups"]))
        if k % 2 == 0:
            y = y[:, :, :-1]
        return F.gelu(y).transpose(1, 2)

    def _attention(self, x: torch.Tensor, p: str) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads

        def proj(name: str) -> torch.Tensor:
            return F.linear(x, self.w[f"{p}attention.{name}.weight"], self.w[f"{p}attention.{name}.bias"]).view(b, t, h, d // h).transpose(1, 2)

        y = F.scaled_dot_product_attention(proj("q_proj"), proj("k_proj"), proj("v_proj"))
        y = y.transpose(1, 2).reshape(b, t, d)
        return F.linear(y, self.w[f"{p}attention.out_proj.weight"], self.w[f"{p}attention.out_proj.bias"])

    def _feed_forward(self, x: torch.Tensor, p: str) -> torch.Tensor:
        y = F.gelu(F.linear(x, self.w[p + "feed_forward.intermediate_dense.weight"], self.w[p + "feed_forward.intermediate_dense.bias"]))
        return F.linear(y, self.w[p + "feed_forward.output_dense.weight"], self.w[p + "feed_forward.output_dense.bias"])

    def hidden_state(self, audio: torch.Tensor, layer: int) -> torch.Tensor:
        """transformers' ``hidden_states[layer]`` (negative: from the end) for raw audio [B, T]."""
        n = self.layers + 1
        if not -n <= layer < n:
            raise AntiphonError(f"layer {layer} is out of range: hidden states 0..{n - 1} (or -{n}..-1)")
        layer %= n
        x = self._features(audio)
        x = x + self._positions(x)
        if not self.stable:
            x = self._layer_norm(x, "encoder.layer_norm")
            for i in range(layer):
                p = f"encoder.layers.{i}."
                x = self._layer_norm(x + self._attention(x, p), p + "layer_norm")
                x = self._layer_norm(x + self._feed_forward(x, p), p + "final_layer_norm")
            return x
        for i in range(layer):
            p = f"encoder.layers.{i}."
            x = x + self._attention(self._layer_norm(x, p + "layer_norm"), p)
            x = x + self._feed_forward(self._layer_norm(x, p + "final_layer_norm"), p)
        return x  # as transformers 5 records it: its last_hidden_state adds the final layer norm
