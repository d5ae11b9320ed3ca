"""The loop diffusion model's folder: model.safetensors (float16 on disk, float32 in memory; the
latent statistics included), config.json (format, model config, the autoencoder it works with, the
training's tempo range, training, SHA-256 of the weights), README.md (card), loss.png.

A model conditioned on the loops' kind records them under "kinds": their names (the order of the
one-hot channels) and their shares among the training loops (the prior a request that names no
kind draws from).

The autoencoder is recorded by its folder relative to this one and the SHA-256 of its weights, so
a diffusion model is never run with another autoencoder's latents by mistake."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from agent.arranger.model_files import CONFIG_FILE, WEIGHTS_FILE, is_model_folder_of, load_checked_weights, read_model_config, write_model_folder
from agent.errors import AntiphonError
from agent.files import sha256_file, typed_config
from agent.loops.autoencoder import AutoencoderBundle, load_autoencoder
from agent.loops.diffusion_config import LoopDiffusionConfig
from agent.loops.unet import LoopUNet

FORMAT = "antiphon-loop-diffusion"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DiffusionBundle:
    path: Path
    config: LoopDiffusionConfig
    model: LoopUNet
    autoencoder: AutoencoderBundle
    meta: dict[str, Any]

    @property
    def bpm_range(self) -> tuple[float, float]:
        low, high = self.meta.get("bpm_range", [0.0, 0.0])
        return float(low), float(high)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds the model hears, in the order of its one-hot channels (empty: no kind condition)."""
        return tuple((self.meta.get("kinds") or {}).get("names", ()))

    @property
    def kind_shares(self) -> tuple[float, ...]:
        return tuple(float(v) for v in (self.meta.get("kinds") or {}).get("shares", ()))


def save_diffusion(folder: Path, model: LoopUNet, autoencoder_folder: Path, bpm_range: tuple[float, float], training: dict[str, Any],
                   kinds: tuple[tuple[str, ...], tuple[float, ...]] = ((), ())) -> None:
    """``kinds``: (names, shares among the training loops), as many as ``model.config.kind_count``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {"kinds": {"names": list(kinds[0]), "shares": [float(v) for v in kinds[1]]}} if model.config.kind_count else {}
    write_model_folder(folder, model, FORMAT, FORMAT_VERSION, {
        "model": model.config.to_dict(), **extra,
        "autoencoder": {"folder": os.path.relpath(Path(autoencoder_folder).resolve(), folder.resolve()),
                        "weights_sha256": sha256_file(Path(autoencoder_folder) / WEIGHTS_FILE)},
        "bpm_range": [round(bpm_range[0], 2), round(bpm_range[1], 2)], "training": training,
    }, float16=True)


def is_diffusion_folder(folder: Path) -> bool:
    return is_model_folder_of(folder, FORMAT, FORMAT_VERSION, "loop diffusion model")


def load_diffusion(folder: Path, autoencoder_folder: Path | None = None) -> DiffusionBundle:
    """Load a diffusion folder and its autoencoder (the recorded one, or ``autoencoder_folder``),
    refusing in one line an autoencoder whose weights are not the ones it was trained with."""
    folder = Path(folder)
    meta = read_model_config(folder, FORMAT, FORMAT_VERSION, "loop diffusion model", "loop diffusion model",
                             "train one with `antiphon train-loop-diffusion`")
    config = typed_config(LoopDiffusionConfig, meta.get("model"), str(folder / CONFIG_FILE), "model")
    recorded = meta.get("autoencoder")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("folder"), str) or not isinstance(recorded.get("weights_sha256"), str):
        raise AntiphonError(f"{folder / CONFIG_FILE}: 'autoencoder' must name its folder and weights_sha256")
    bpm_range = meta.get("bpm_range")
    if not (isinstance(bpm_range, list) and len(bpm_range) == 2 and all(isinstance(v, (int, float)) for v in bpm_range)):
        raise AntiphonError(f"{folder / CONFIG_FILE}: 'bpm_range' must be [low, high]")
    _check_kinds(meta, config.kind_count, folder / CONFIG_FILE)
    ae_folder = Path(autoencoder_folder) if autoencoder_folder is not None else Path(os.path.normpath(folder / recorded["folder"]))
    autoencoder = load_autoencoder(ae_folder)
    if sha256_file(ae_folder / WEIGHTS_FILE) != recorded["weights_sha256"]:
        raise AntiphonError(f"{ae_folder}: not the autoencoder {folder} was trained with (its weights differ); retrain the diffusion model on it")
    if autoencoder.config.latent_channels != config.latent_channels:
        raise AntiphonError(f"{ae_folder}: {autoencoder.config.latent_channels} latent channels, {folder} wants {config.latent_channels}")
    model = load_checked_weights(folder, meta, LoopUNet(config))
    return DiffusionBundle(path=folder, config=config, model=model, autoencoder=autoencoder, meta=meta)


def _check_kinds(meta: dict[str, Any], count: int, where: Path) -> None:
    """A kind-conditioned model's names and shares: ``count`` of each, names distinct, shares positive."""
    if count == 0:
        if "kinds" in meta:
            raise AntiphonError(f"{where}: 'kinds' is given but model.kind_count is 0")
        return
    kinds = meta.get("kinds")
    names = kinds.get("names") if isinstance(kinds, dict) else None
    shares = kinds.get("shares") if isinstance(kinds, dict) else None
    if not (isinstance(names, list) and len(names) == count and all(isinstance(n, str) and n for n in names) and len(set(names)) == count):
        raise AntiphonError(f"{where}: 'kinds.names' must list {count} distinct kind names (model.kind_count)")
    if not (isinstance(shares, list) and len(shares) == count and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in shares)):
        raise AntiphonError(f"{where}: 'kinds.shares' must give {count} positive shares")
