"""Wav2Vec2 perception: any transformers Wav2Vec2 checkpoint, hidden states mean-pooled per chunk.

The forward pass runs in plain torch (``wav2vec2_encoder.py``: transformers' modeling code takes
seconds to import) for the architectures it supports, through transformers otherwise.
Weights are loaded from safetensors only (``use_safetensors=True``): a folder holding only a
pickle ``pytorch_model.bin`` is refused. Only local folders are loaded (``local_files_only=True``):
a hub id (or any name that is not a folder) is refused before transformers is called, so a model's
config.json can never make Antiphon reach the network. The folder's config.json is size-checked
first (``MAX_ARCHITECTURE``), so a hostile one cannot make the loader allocate gigabytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.errors import AntiphonError
from agent.files import read_json_object
from agent.perception.wav2vec2_encoder import Wav2Vec2Encoder, supported

log = logging.getLogger(__name__)

BATCH_SIZE = 16
# the largest Wav2Vec2 architecture loaded (wav2vec 2.0 large: 1024 wide, 24 layers, 4096 feed-forward, 512 conv channels)
MAX_ARCHITECTURE = {"hidden_size": 2048, "num_hidden_layers": 48, "intermediate_size": 8192, "num_attention_heads": 64,
                    "num_conv_pos_embeddings": 1024, "num_conv_pos_embedding_groups": 1024}
MAX_CONV_LAYERS, MAX_CONV_CHANNELS = 16, 2048


def receptive_field_samples(conv_kernel: Sequence[int], conv_stride: Sequence[int]) -> int:
    """Input samples the convolutional feature encoder needs to produce one frame."""
    field, jump = 1, 1
    for kernel, stride in zip(conv_kernel, conv_stride):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def weights_sha256(model: torch.nn.Module) -> str:
    """Hash of a model's parameters and buffers (names, shapes, dtypes and bytes)."""
    return tensors_sha256(model.state_dict())


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """Hash of named tensors (names, shapes, dtypes and bytes): a model's identity, whether read from
    its safetensors file or from a loaded module's state_dict (the same names, the same hash)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        t = tensor.detach().contiguous().cpu()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


class Wav2Vec2Perception:
    """Mean over time of one hidden layer of a Wav2Vec2 model, per chunk.

    ``hidden``: raw audio [B, T] -> the pooled hidden state [B, frames, dim] (``Wav2Vec2Encoder``, or
    transformers' model for architectures it does not run)."""

    name = "wav2vec2"
    sample_rate_hz = PERCEPTION_RATE_HZ

    def __init__(self, hidden: Callable[[torch.Tensor], torch.Tensor], checkpoint: str, layer: int, do_normalize: bool,
                 dim: int, min_samples: int, sha256: str) -> None:
        self.hidden = hidden
        self.checkpoint = checkpoint
        self.layer = layer
        self.do_normalize = do_normalize
        self.dim = int(dim)
        self.min_samples = int(min_samples)
        self._sha256 = sha256

    @classmethod
    def load(cls, checkpoint: str, layer: int = -1) -> "Wav2Vec2Perception":
        folder = Path(checkpoint)
        config = _check_local_folder(folder, checkpoint)
        n_hidden = int(config.get("num_hidden_layers", 12)) + 1
        if not -n_hidden <= layer < n_hidden:
            raise AntiphonError(
                f"layer {layer} is out of range for checkpoint {checkpoint}: it has hidden states "
                f"0..{n_hidden - 1} (or -{n_hidden}..-1)"
            )
        min_samples = receptive_field_samples(config.get("conv_kernel", (10, 3, 3, 3, 3, 2, 2)), config.get("conv_stride", (5, 2, 2, 2, 2, 2, 2)))
        if supported(config):
            encoder = Wav2Vec2Encoder.load(folder, config)
            return cls(lambda x: encoder.hidden_state(x, layer), checkpoint, layer, _do_normalize(folder), int(config["hidden_size"]),
                       min_samples, tensors_sha256(encoder.model_tensors()))
        model = _transformers_model(folder, checkpoint)
        return cls(_transformers_hidden(model, layer % n_hidden), checkpoint, layer, _do_normalize(folder), int(model.config.hidden_size),
                   min_samples, weights_sha256(model))

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "dim": self.dim,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self._sha256,
            "layer": self.layer,
        }

    def features(self, chunk: np.ndarray) -> np.ndarray:
        return self.features_batch([chunk])[0]

    def features_batch(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(chunks), self.dim), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        prepared = [self._prepare(c) for c in chunks]
        for i, x in enumerate(prepared):
            by_length.setdefault(len(x), []).append(i)
        with torch.inference_mode():
            for indices in by_length.values():
                for start in range(0, len(indices), BATCH_SIZE):
                    batch_idx = indices[start : start + BATCH_SIZE]
                    batch = torch.from_numpy(np.stack([prepared[i] for i in batch_idx]))
                    out[batch_idx] = self.hidden(batch).mean(dim=1).float().numpy()
        return out

    def _prepare(self, chunk: np.ndarray) -> np.ndarray:
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.do_normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        if len(x) < self.min_samples:
            x = np.pad(x, (0, self.min_samples - len(x)))
        return x.astype(np.float32)


def _transformers_model(folder: Path, checkpoint: str) -> Any:
    """transformers' Wav2Vec2Model, for the architectures ``Wav2Vec2Encoder`` does not run (slow to import)."""
    from safetensors import SafetensorError
    from transformers import Wav2Vec2Model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor bar on every load is noise in a CLI and a server log
    try:
        return Wav2Vec2Model.from_pretrained(str(folder), use_safetensors=True, local_files_only=True).eval()
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise AntiphonError(f"cannot load Wav2Vec2 folder '{checkpoint}': {reason}") from exc


def _transformers_hidden(model: Any, layer: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Hidden state ``layer`` of a transformers model. With the post-norm encoder the layers above it
    cannot change it and are dropped (the weights' hash is taken before, from the whole model)."""
    encoder = getattr(model, "encoder", None)
    stable = getattr(model.config, "do_stable_layer_norm", True)
    if encoder is not None and not stable and layer < len(encoder.layers) and not getattr(model.config, "add_adapter", False):
        encoder.layers = encoder.layers[:layer]
        return lambda x: model(x).last_hidden_state
    return lambda x: model(x, output_hidden_states=True).hidden_states[layer]


def _check_local_folder(folder: Path, checkpoint: str) -> dict[str, Any]:
    if not folder.is_dir():
        raise AntiphonError(
            f"cannot load Wav2Vec2 checkpoint '{checkpoint}': not a local folder (Antiphon loads only folders saved with "
            "save_pretrained and never downloads: save the model locally and name its folder)"
        )
    if not (folder / "config.json").is_file():
        raise AntiphonError(f"Wav2Vec2 checkpoint {folder} has no config.json")
    config = _check_architecture(folder / "config.json")
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("*.bin")):
            raise AntiphonError(
                f"Wav2Vec2 checkpoint {folder} holds only pickle weights (*.bin), which Antiphon "
                "never loads; re-save it with save_pretrained(..., safe_serialization=True)"
            )
        raise AntiphonError(f"Wav2Vec2 checkpoint {folder} has no model.safetensors")
    return config


def _check_architecture(path: Path) -> dict[str, Any]:
    """The sizes in a Wav2Vec2 config.json, bounded before transformers allocates anything."""
    config = read_json_object(path, "Wav2Vec2 config")
    for key, high in MAX_ARCHITECTURE.items():
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high):
            raise AntiphonError(f"{path}: '{key}' must be an integer in 1..{high}, got {value!r}"[:300])
    conv = config.get("conv_dim", [])
    if not isinstance(conv, list) or len(conv) > MAX_CONV_LAYERS or not all(
        isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= MAX_CONV_CHANNELS for c in conv
    ):
        raise AntiphonError(f"{path}: 'conv_dim' must be at most {MAX_CONV_LAYERS} integers in 1..{MAX_CONV_CHANNELS}")
    return config


def _do_normalize(folder: Path) -> bool:
    """Whether the checkpoint expects zero-mean unit-variance input (preprocessor_config.json)."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return True
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("do_normalize", True))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AntiphonError(f"{path}: not valid JSON ({exc})") from exc
