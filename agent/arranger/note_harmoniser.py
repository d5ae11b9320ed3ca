"""The note harmoniser: chords from a melody's notes, for performer mode (a melody alone to accompany).

The frame harmoniser (``train-chords --hears melody``) names a chord per spectrum frame from the
melody's audio; frame by frame it flickers, and its chords are right about 26 % of the steps of the
held-out songs' bars. This model hears the melody as notes instead (pitch per 16th step, as the
arranger transcribes it with pYIN) and names one chord per ``segment_steps`` (a half bar by
default), after hearing the segment and everything before it (causal over segments):

- per segment, two pitch-class histograms of the melody: over all its steps, and over its strong
  steps (every beat);
- a GRU over the segments carries the song so far (its key, its last chords);
- it is transposition-equivariant: the same network scores "root r" on the histograms rolled by r
  semitones, for each of the 12 roots, then "major" and "minor" for each (24 classes, no N).
  So a melody and its transposition get transposed chords, and no key has to be seen in training.

Trained by ``antiphon train-note-harmoniser`` (agent/arranger/note_harmoniser_train.py) on the
true melodies and chords of a song set's training songs. The folder: model.safetensors,
config.json (format, the model's config, training figures, file hash), README.md, loss.png.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agent.arranger.bars import REST, STEPS_PER_BEAT, Bar
from agent.arranger.model_files import CONFIG_FILE, is_model_folder_of, load_checked_weights, read_model_config, write_model_folder
from agent.arranger.note_harmoniser_config import NoteHarmoniserConfig
from agent.files import typed_config

FORMAT = "antiphon-note-harmoniser"
FORMAT_VERSION = 1
HISTOGRAMS = 2  # all steps, strong steps
QUALITIES = 2  # major, minor


def segment_features(melody_steps: np.ndarray, segment_steps: int) -> np.ndarray:
    """float32 [segments, 2, 12]: each segment's pitch-class histograms (all steps, strong steps), each
    summing to 1 (0 where the melody rests throughout). A last partial segment is dropped."""
    pitch = np.asarray(melody_steps, dtype=np.int64)
    count = len(pitch) // segment_steps
    pitch = pitch[: count * segment_steps].reshape(count, segment_steps)
    sounding = pitch != REST
    strong = sounding & (np.arange(segment_steps) % STEPS_PER_BEAT == 0)[None, :]
    out = np.zeros((count, HISTOGRAMS, 12), dtype=np.float32)
    rows = np.repeat(np.arange(count), segment_steps).reshape(count, segment_steps)
    for h, mask in enumerate((sounding, strong)):
        np.add.at(out[:, h], (rows[mask], pitch[mask] % 12), 1.0)
    totals = out.sum(axis=2, keepdims=True)
    return np.divide(out, totals, out=np.zeros_like(out), where=totals > 0)


class NoteHarmoniser(nn.Module):
    """Segment histograms [B, T, 2, 12] -> chord logits [B, T, 24] (classes 1..24: major roots 0..11, minor roots 0..11)."""

    def __init__(self, config: NoteHarmoniserConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = nn.Linear(HISTOGRAMS * 12, config.width)
        self.gru = nn.GRU(config.width, config.width, batch_first=True)
        self.out = nn.Linear(config.width, QUALITIES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, t = features.shape[:2]
        rolled = torch.stack([torch.roll(features, -r, dims=-1) for r in range(12)], dim=1)  # [B, 12 roots, T, 2, 12]
        z, _ = self.gru(torch.relu(self.inp(rolled.reshape(b * 12, t, HISTOGRAMS * 12))))
        logits = self.out(z).reshape(b, 12, t, QUALITIES)
        return logits.permute(0, 2, 3, 1).reshape(b, t, QUALITIES * 12)


@dataclass(frozen=True)
class NoteHarmoniserBundle:
    """A loaded note harmoniser, ready to ``harmonise`` (eval mode, float32)."""

    path: Path
    config: NoteHarmoniserConfig
    model: NoteHarmoniser
    meta: dict[str, Any]

    @torch.inference_mode()
    def harmonise(self, melody_steps: np.ndarray) -> np.ndarray:
        """int64 majmin class per step of ``melody_steps`` (consecutive 16th steps, MIDI pitch or REST):
        a chord per segment, named after hearing the segment and all before it; steps of a last
        partial segment take the last whole segment's chord (N when there is none)."""
        s = self.config.segment_steps
        features = segment_features(melody_steps, s)
        out = np.zeros(len(melody_steps), dtype=np.int64)
        if len(features):
            classes = self.model(torch.from_numpy(features)[None])[0].argmax(-1).numpy() + 1
            out[: len(classes) * s] = np.repeat(classes, s)
            out[len(classes) * s :] = classes[-1]
        return out

    def harmonise_bars(self, bars: list[Bar]) -> list[Bar]:
        """The bars (consecutive) with their chords named from their melody."""
        steps = np.concatenate([b.melody_pitch for b in bars]) if bars else np.zeros(0, dtype=np.int64)
        chords = self.harmonise(steps)
        n = len(bars[0].chords) if bars else 0
        return [replace(b, chords=chords[i * n : (i + 1) * n]) for i, b in enumerate(bars)]


def save_note_harmoniser(folder: Path, model: NoteHarmoniser, training: dict[str, Any]) -> None:
    write_model_folder(folder, model, FORMAT, FORMAT_VERSION, {"model": model.config.to_dict(), "training": training}, float16=False)


def is_note_harmoniser_folder(folder: Path) -> bool:
    return is_model_folder_of(folder, FORMAT, FORMAT_VERSION, "note harmoniser")


def load_note_harmoniser(folder: Path) -> NoteHarmoniserBundle:
    """Load a note harmoniser folder, checking format, hash and tensors (one-line errors)."""
    folder = Path(folder)
    meta = read_model_config(folder, FORMAT, FORMAT_VERSION, "note harmoniser", "note harmoniser",
                             "train one with `antiphon train-note-harmoniser`")
    config = typed_config(NoteHarmoniserConfig, meta.get("model"), str(folder / CONFIG_FILE), "model")
    model = load_checked_weights(folder, meta, NoteHarmoniser(config))
    return NoteHarmoniserBundle(path=folder, config=config, model=model, meta=meta)
