"""`antiphon train-chords`, `antiphon train-beats`: a frame model trained on a song set (seeded,
resumable, early-stopped).

Targets: the majmin class of every frame from the song's chord annotation (POP909's, moved with
the rendering), or none / beat / downbeat at the frames nearest the annotated beats. Each crop is
moved by a random transposition, spectrum and chord labels together, so every key is seen.
Validation: the frame cross-entropy on a seeded share of the training songs.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from agent.arranger.frame_checkpoint import is_frame_model_folder, load_frame_model, save_frame_model
from agent.arranger.frame_config import SpectrumConfig, FrameModelConfig, FrameTrainConfig
from agent.arranger.frame_data import IGNORE, SongTake, load_takes, rotate_classes, song_set_split, validation_split
from agent.arranger.spectrum import transpose_features
from agent.arranger.frame_model import FrameModel
from agent.errors import AntiphonError
from agent.files import check_replaceable
from agent.plots import line_panels
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

RESUME_DIR = "checkpoint"


def _crops(takes: list[SongTake], crop: int, rng: np.random.Generator | None) -> list[tuple[int, int, int]]:
    """(take, start, end) crops covering every take; shuffled with a random offset when ``rng``."""
    out = []
    for i, take in enumerate(takes):
        n = len(take.labels)
        offset = int(rng.integers(0, crop)) if rng is not None and n > crop else 0
        cuts = sorted({0, n, *range(offset, n, crop)})
        out += [(i, a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b - a >= 2]
    if rng is not None:
        out = [out[j] for j in rng.permutation(len(out))]
    return out


def _batch(takes: list[SongTake], crops: list[tuple[int, int, int]], features: SpectrumConfig, shifts: list[int], chords: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(b - a for _, a, b in crops)
    x = np.zeros((len(crops), width, features.dim), np.float32)
    x[:, :, : features.bins] = -1.0  # padding sounds like silence
    x[:, :, features.bins] = -2.0
    y = np.full((len(crops), width), IGNORE, np.int64)
    for row, ((i, a, b), shift) in enumerate(zip(crops, shifts)):
        x[row, : b - a] = transpose_features(takes[i].features[a:b], shift, features)
        y[row, : b - a] = rotate_classes(takes[i].labels[a:b], shift) if chords else takes[i].labels[a:b]
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def validate(model: FrameModel, takes: list[SongTake]) -> dict[str, float]:
    model.eval()
    loss_sum = hits = total = 0.0
    for take in takes:
        logits = model(torch.from_numpy(take.features)[None])[0]
        labels = torch.from_numpy(take.labels)
        keep = labels != IGNORE
        loss_sum += float(F.cross_entropy(logits[keep], labels[keep], reduction="sum"))
        hits += float((logits[keep].argmax(-1) == labels[keep]).sum())
        total += int(keep.sum())
    return {"loss": loss_sum / max(total, 1), "frame_accuracy": hits / max(total, 1)}


def train_frames(song_set: Path, out_dir: Path, model_config: FrameModelConfig, config: FrameTrainConfig, features: SpectrumConfig = SpectrumConfig(),
                 resume: bool = False, force: bool = False, songs: int = 0, command: str = "") -> Path:
    """Train a frame model for ``model_config.task`` that hears ``model_config.hears`` (mix or melody) and write a model folder."""
    out_dir = Path(out_dir)
    resume_dir = out_dir / RESUME_DIR
    if resume and not (resume_dir / "state.json").is_file():
        raise AntiphonError(f"nothing to resume in {out_dir} (no {RESUME_DIR}/state.json)")
    if force and not resume:
        check_replaceable(out_dir, is_frame_model_folder, "frame model", "frame model (config.json of format antiphon-frame-model)")
    elif not resume and out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise AntiphonError(f"{out_dir} already exists; pass --resume to continue its training or --force to replace it")
    training_names, heldout = song_set_split(Path(song_set))
    if songs:
        training_names = training_names[:songs]
    fit_names, val_names = validation_split(training_names, config.validation_fraction, config.seed)
    fit = load_takes(song_set, fit_names, model_config.hears, features, model_config.delay_frames, desc="features (fit)", task=model_config.task)
    validation = load_takes(song_set, val_names, model_config.hears, features, model_config.delay_frames, desc="features (validation)", task=model_config.task)
    log.info("%s model (hears %s): %d fit songs, %d validation, %d held out", model_config.task, model_config.hears, len(fit), len(validation), len(heldout))
    torch.manual_seed(config.seed)
    model = FrameModel(model_config, features)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    stopping = ("max_epochs", "patience_epochs")  # a resumed run may stop sooner or go on longer
    expect = {"kind": model_config.task, "model": asdict(model_config), "features": asdict(features),
              "train": {k: v for k, v in asdict(config).items() if k not in stopping}, "fit": fit_names}
    state: dict[str, Any] = {**expect, "epoch": 0, "step": 0, "history": [], "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        log.info("resuming after epoch %d", state["epoch"])
    elif out_dir.exists() and force:
        shutil.rmtree(out_dir)
    while state["epoch"] < config.max_epochs and state["bad_epochs"] < config.patience_epochs:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 1_000_003 + epoch)
        crops = _crops(fit, config.crop_frames, rng)
        model.train()
        losses = []
        for b in tqdm(range(0, len(crops), config.batch_size), desc=f"epoch {epoch + 1}/{config.max_epochs}", unit="batch", disable=None, leave=False):
            part = crops[b : b + config.batch_size]
            shifts = [int(s) for s in rng.integers(-config.transpose_semitones + 1, config.transpose_semitones + 1, len(part))] if config.transpose_semitones else [0] * len(part)
            x, y = _batch(fit, part, features, shifts, model_config.task == "chords")
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            state["step"] += 1
            losses.append(float(loss.detach()))
        val = validate(model, validation)
        state["train_s"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": val["loss"], "val_frame_accuracy": val["frame_accuracy"]})
        improved = val["loss"] < state["best_loss"] - 1e-4
        if improved:
            state["best_loss"], state["best_epoch"], state["bad_epochs"] = val["loss"], epoch + 1, 0
            save_frame_model(out_dir, model, {"status": "training"})
        else:
            state["bad_epochs"] += 1
        log.info("epoch %3d  train loss %.4f  val loss %.4f  val frame accuracy %.1f%%%s", epoch + 1, np.mean(losses), val["loss"],
                 100 * val["frame_accuracy"], "  *" if improved else "")
        save_resume(resume_dir, model, optimizer, state)
    best = load_frame_model(out_dir)
    training = {
        **asdict(config), "song_set": Path(song_set).name, "fit_songs": fit_names, "validation_songs": val_names, "heldout_songs": heldout,
        "fit_frames": int(sum(len(t.labels) for t in fit)), "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
        "best_val_loss": round(state["best_loss"], 5), "train_s": round(state["train_s"], 1), "command": command, "status": "done",
    }
    save_frame_model(out_dir, best.model, training)
    h = state["history"]
    line_panels(out_dir / "loss.png", [x["epoch"] for x in h], "epoch", [
        ("frame cross-entropy (nats)", [("train", [x["train_loss"] for x in h]), ("validation", [x["val_loss"] for x in h])]),
        ("validation frame accuracy (%)", [(model_config.task, [100 * x["val_frame_accuracy"] for x in h])]),
    ], marks=[(state["best_epoch"], f"best epoch {state['best_epoch']}")])
    log.info("wrote %s model %s (best epoch %d of %d)", model_config.task, out_dir, state["best_epoch"], state["epoch"])
    return out_dir
