"""What the arranger's model folders share: config.json checked for its format and version, and
safetensors weights read back (float16 or float32 on disk, float32 in memory), both refused in one
line when they do not fit. (Their typed configs are read by ``agent.files.typed_config``, as the
decision models' are.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from agent import __version__
from agent.errors import AntiphonError
from agent.files import read_json_object, sha256_file, verify_sha256, write_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def write_model_folder(folder: Path, model: nn.Module, fmt: str, version: int, sections: dict[str, Any], float16: bool) -> None:
    """``model.safetensors`` (float16, or as the model holds them) and ``config.json``: format,
    version, this program's version, the time, ``sections`` in their order and the weights' SHA-256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.detach().to(torch.float16) if float16 else v.detach()).contiguous().clone() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": fmt})
    write_json(folder / CONFIG_FILE, {
        "format": fmt, "format_version": version, "antiphon_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **sections, "files": {WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)},
    })


def is_model_folder_of(folder: Path, fmt: str, version: int, kind: str) -> bool:
    """Whether ``folder`` holds a config.json of this format and version (for --force's check)."""
    try:
        read_model_config(Path(folder), fmt, version, kind, kind, "")
    except AntiphonError:
        return False
    return True


def read_model_config(folder: Path, fmt: str, version: int, kind: str, version_name: str, train_hint: str) -> dict[str, Any]:
    """``folder``'s config.json, refused in one line unless the folder exists, its format is ``fmt``
    (else "not an Antiphon <kind>"), its version is ``version`` and it lists its files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AntiphonError(f"{version_name} folder {folder} does not exist ({train_hint})")
    where = folder / CONFIG_FILE
    meta = read_json_object(where, f"{version_name} config")
    if meta.get("format") != fmt:
        raise AntiphonError(f"{where}: not an Antiphon {kind} (format is {meta.get('format')!r})")
    if meta.get("format_version") != version:
        raise AntiphonError(f"{where}: {version_name} format version {meta.get('format_version')!r} is not supported (this Antiphon reads {version})")
    if not isinstance(meta.get("files"), dict):
        raise AntiphonError(f"{where}: 'files' must be an object")
    return meta


def load_checked_weights(folder: Path, meta: dict[str, Any], model: nn.Module) -> nn.Module:
    """``model`` with ``folder``'s weights, once they match the hash its config.json (``meta``)
    records and the model's tensors (one-line errors); in eval mode."""
    weights = Path(folder) / WEIGHTS_FILE
    verify_sha256(weights, meta["files"], WEIGHTS_FILE, Path(folder) / CONFIG_FILE)
    model.load_state_dict(read_weights(weights, model))
    return model.eval()


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
