"""Training the note harmoniser (agent/arranger/note_harmoniser.py) on a song set's true melodies and chords.

Songs: the song set's training songs (its split.json; the held-out ones are read only at the end,
to score the kept model). Of those, ``validation_share`` (drawn by the seed; every rendering of a
song on one side) validate each epoch;
the weights of the epoch with the best validation accuracy are kept. One example is one song: its
melody per 16th step (from the score, on its bars) cut into segments, the target of each segment the
chord most of its steps carry (segments with no chord are not scored). The model is
transposition-equivariant, so the songs are not transposed.

Writes model.safetensors, config.json, README.md (card) and loss.png into the output folder.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from agent.arranger.bars import SongBars, cut_bars
from agent.arranger.frame_data import song_set_split, validation_split
from agent.arranger.note_harmoniser import NoteHarmoniser, is_note_harmoniser_folder, save_note_harmoniser, segment_features
from agent.arranger.note_harmoniser_config import NoteHarmoniserConfig, NoteHarmoniserTrainConfig
from agent.arranger.song_set import read_score, score_song
from agent.arranger.songs import NO_CHORD
from agent.errors import AntiphonError
from agent.files import check_output_place, check_replaceable
from agent.plots import line_panels

log = logging.getLogger(__name__)

IGNORE = -100


def song_examples(song: SongBars, segment_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [segments, 2, 12], target class - 1 per segment or IGNORE) of a song's bars, in order."""
    melody = np.concatenate([b.melody_pitch for b in song.bars])
    chords = np.concatenate([b.chords for b in song.bars])
    features = segment_features(melody, segment_steps)
    segments = chords[: len(features) * segment_steps].reshape(len(features), segment_steps)
    majority = np.array([np.bincount(s, minlength=25).argmax() for s in segments], dtype=np.int64)
    return features, np.where(majority == NO_CHORD, IGNORE, majority - 1)


def scored_examples(songs: list[SongBars], segment_steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The songs' examples, those with no segment to score (no chord, or shorter than a segment) left out."""
    examples = [song_examples(x, segment_steps) for x in songs]
    return [(f, y) for f, y in examples if (y != IGNORE).any()]


def read_songs(song_set: Path, names: list[str], desc: str) -> list[SongBars]:
    songs = [cut_bars(score_song(read_score(song_set / n), n)) for n in tqdm(names, desc=desc, unit="song", disable=None, leave=False)]
    return [s for s in songs if s.bars]


def padded(examples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(y) for _, y in examples)
    x = torch.zeros(len(examples), t, *examples[0][0].shape[1:])
    y = torch.full((len(examples), t), IGNORE, dtype=torch.long)
    for i, (f, target) in enumerate(examples):
        x[i, : len(target)] = torch.from_numpy(f)
        y[i, : len(target)] = torch.from_numpy(target)
    return x, y


@torch.inference_mode()
def accuracy(model: NoteHarmoniser, examples: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of the scored segments whose chord the model names (each song heard from its start)."""
    hits = total = 0
    for f, y in examples:
        if not len(y):
            continue
        pred = model(torch.from_numpy(f)[None])[0].argmax(-1).numpy()
        scored = y != IGNORE
        hits += int((pred[scored] == y[scored]).sum())
        total += int(scored.sum())
    return hits / max(total, 1)


def train_note_harmoniser(song_set: Path, out_dir: Path, model_config: NoteHarmoniserConfig, config: NoteHarmoniserTrainConfig,
                          force: bool = False, command: str = "") -> dict[str, Any]:
    """Train, keep the best validation epoch, score it on the held-out songs; write the folder. Returns config.json's training part."""
    song_set, out_dir = Path(song_set), Path(out_dir)
    check_output_place(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise AntiphonError(f"{out_dir} exists and is not empty; pass --force to replace a note harmoniser there")
        check_replaceable(out_dir, is_note_harmoniser_folder, "note harmoniser", "config.json of a note harmoniser")
    training, heldout = song_set_split(song_set)
    fit_names, val_names = validation_split(training, config.validation_share, config.seed)  # every rendering of a song on one side
    s = model_config.segment_steps
    fit = scored_examples(read_songs(song_set, fit_names, "reading fit songs"), s)
    val = scored_examples(read_songs(song_set, val_names, "reading validation songs"), s)
    if not fit or not val:
        raise AntiphonError(f"{song_set}: no chord-labelled bar of 4 beats in the {'fit' if not fit else 'validation'} songs")
    log.info("note harmoniser: %d fit and %d validation songs with chord-labelled bars of 4 beats (of %d and %d)",
             len(fit), len(val), len(fit_names), len(val_names))
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = NoteHarmoniser(model_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, -1, {})
    t0 = time.perf_counter()
    for epoch in tqdm(range(1, config.epochs + 1), desc="training note harmoniser", unit="epoch", disable=None):
        model.train()
        losses = []
        epoch_order = order_of(len(fit), config.seed, epoch)
        for start in range(0, len(fit), config.batch_songs):
            x, y = padded([fit[i] for i in epoch_order[start : start + config.batch_songs]])
            loss = F.cross_entropy(model(x).reshape(-1, 24), y.reshape(-1), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        model.eval()
        val_acc = accuracy(model, val)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_accuracy": val_acc})
        log.info("epoch %d  train loss %.4f  validation accuracy %.4f%s", epoch, history[-1]["train_loss"], val_acc, "  *" if val_acc > best[0] else "")
        if val_acc > best[0]:
            best = (val_acc, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    model.eval()
    held = scored_examples(read_songs(song_set, heldout, "reading held-out songs"), s)
    training_info = {
        "config": asdict(config), "song_set": song_set.name, "fit_songs": len(fit), "validation_songs": len(val),
        "best_epoch": best[1], "validation_accuracy": round(best[0], 4),
        "heldout_songs": len(held), "heldout_accuracy_true_melody": round(accuracy(model, held), 4) if held else None,
        "train_s": round(time.perf_counter() - t0, 1), "history": history, "command": command,
    }
    if out_dir.exists() and force:
        shutil.rmtree(out_dir)
    save_note_harmoniser(out_dir, model, training_info)
    line_panels(out_dir / "loss.png", [h["epoch"] for h in history], "epoch", [
        ("training loss (nats)", [("train", [h["train_loss"] for h in history])]),
        ("validation accuracy (segments)", [("validation", [h["val_accuracy"] for h in history])]),
    ], marks=[(best[1], f"kept: epoch {best[1]}")])
    write_card(out_dir, model_config, training_info)
    return training_info


def order_of(count: int, seed: int, epoch: int) -> np.ndarray:
    """The fit songs' order in an epoch (seeded, the same after a rerun)."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def write_card(out_dir: Path, model_config: NoteHarmoniserConfig, t: dict[str, Any]) -> Path:
    held = t["heldout_accuracy_true_melody"]
    text = (
        f"# Note harmoniser ({out_dir.name})\n\n"
        "Performer mode's chords: one majmin chord per "
        f"{model_config.segment_steps} sixteenth steps named from the melody's notes heard so far (agent/arranger/note_harmoniser.py): "
        f"pitch-class histograms per segment, a GRU of {model_config.width} units, transposition-equivariant.\n\n"
        f"Trained on the true melodies and chords of {t['fit_songs']} training songs of `{t['song_set']}`; "
        f"{t['validation_songs']} more chose the epoch (kept: epoch {t['best_epoch']}, validation accuracy {t['validation_accuracy']:.3f}).\n\n"
        "| segments whose chord is named | accuracy |\n| --- | ---: |\n"
        f"| validation songs (true melody) | {t['validation_accuracy']:.3f} |\n"
        + (f"| {t['heldout_songs']} held-out songs (true melody) | {held:.3f} |\n" if held is not None else "")
        + "\nFrom audio (the melody transcribed by pYIN, beats tracked) its chords are scored inside "
        "`antiphon evaluate-arranger --mode performer` (docs/arranger.md).\n\n"
        f"Rebuild ({t['train_s']:.0f} s here): `{t['command'] or 'antiphon train-note-harmoniser --song-set corpora/pop909-songs --out ' + str(out_dir)}`\n"
    )
    path = out_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
