"""A frame model's folder (chord recogniser or beat tracker): ``model.safetensors``, ``config.json`` (format, configs, training
record, file hashes), ``README.md`` (card) and ``loss.png``. Loading checks all of it and refuses a
corrupt or foreign folder in one line."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from agent import __version__
from agent.arranger.frame_config import (
    FRAME_MODEL_FORMAT, FRAME_MODEL_FORMAT_VERSION, SpectrumConfig, FrameModelConfig,
)
from agent.arranger.frame_model import FrameModel
from agent.arranger.model_files import CONFIG_FILE, load_checked_weights, read_model_config
from agent.errors import AntiphonError
from agent.files import read_json_object, sha256_file, typed_config, write_json

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class FrameBundle:
    path: Path
    model: FrameModel
    meta: dict[str, Any]

    @property
    def features(self) -> SpectrumConfig:
        return self.model.features

    @property
    def config(self) -> FrameModelConfig:
        return self.model.config


def is_frame_model_folder(folder: Path) -> bool:
    try:
        return read_json_object(Path(folder) / CONFIG_FILE, "frame model config").get("format") == FRAME_MODEL_FORMAT
    except AntiphonError:
        return False


def save_frame_model(folder: Path, model: FrameModel, training: dict[str, Any]) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # float16 on disk (half the size; the models run in float32, the difference is far below their errors)
    save_file({k: v.detach().to(torch.float16).contiguous().clone() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE),
              metadata={"format": FRAME_MODEL_FORMAT})
    write_json(folder / CONFIG_FILE, {
        "format": FRAME_MODEL_FORMAT,
        "format_version": FRAME_MODEL_FORMAT_VERSION,
        "antiphon_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "features": asdict(model.features),
        "model": asdict(model.config),
        "training": training,
        "files": {WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)},
    })


def load_frame_model(folder: Path) -> FrameBundle:
    folder = Path(folder)
    meta = read_model_config(folder, FRAME_MODEL_FORMAT, FRAME_MODEL_FORMAT_VERSION, "chord or beat model", "frame model",
                             "train one with `antiphon train-chords` or `antiphon train-beats`")
    features = typed_config(SpectrumConfig, meta.get("features"), str(folder / CONFIG_FILE), "features")
    config = typed_config(FrameModelConfig, meta.get("model"), str(folder / CONFIG_FILE), "model")
    model = load_checked_weights(folder, meta, FrameModel(config, features))
    return FrameBundle(path=folder, model=model, meta=meta)
