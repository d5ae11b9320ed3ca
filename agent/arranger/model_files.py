"""What the arranger's model folders share: typed configs read back from config.json, and
safetensors weights read back (float16 or float32 on disk, float32 in memory), both refused in one
line when they do not fit."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from agent.errors import AntiphonError


def typed_config(cls: Any, data: Any, where: str, section: str) -> Any:
    """A config dataclass of int, float and str fields from JSON, with one-line errors naming the field."""
    if not isinstance(data, dict):
        raise AntiphonError(f"{where}: '{section}' must be a JSON object")
    kinds = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise AntiphonError(f"{where}: unknown '{section}' field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if kinds[name] in (str, "str"):
            if not isinstance(value, str):
                raise AntiphonError(f"{where}: '{section}.{name}' must be a string, got {value!r}")
            values[name] = value
            continue
        want = float if kinds[name] in (float, "float") else int
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (want is int and not isinstance(value, int)) or (want is float and not math.isfinite(value)):
            raise AntiphonError(f"{where}: '{section}.{name}' must be a{'n integer' if want is int else ' finite number'}, got {value!r}")
        values[name] = want(value)
    try:
        return cls(**values)
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: {exc}") from None


def read_weights(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` as float32, refused in one line unless they are exactly the model's."""
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise AntiphonError(f"{path}: not a readable safetensors file ({' '.join(str(exc).split())[:120]})") from None
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise AntiphonError(f"{path}: tensors do not match the configured model ({'missing ' + missing[0] if missing else 'unexpected ' + extra[0]})")
    out = {}
    for name, value in tensors.items():
        if value.dtype not in (torch.float16, torch.float32):
            raise AntiphonError(f"{path}: tensor {name} is {value.dtype}, expected float16 or float32")
        if tuple(value.shape) != tuple(expected[name].shape):
            raise AntiphonError(f"{path}: tensor {name} has shape {tuple(value.shape)}, the config wants {tuple(expected[name].shape)}")
        value = value.to(torch.float32)
        if not bool(torch.isfinite(value).all()):
            raise AntiphonError(f"{path}: tensor {name} holds NaN or infinite values")
        out[name] = value
    return out
