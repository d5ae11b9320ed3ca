"""Training the texture model on POP909: seeded, resumable, early-stopped on validation songs.

Songs: held out by ``agent.demo.make_pairs.is_heldout`` (SHA-1 of the name % 10 == 0, never read
for training); of the rest, ``validation_share`` is drawn by the seed for validation and early
stopping, the others are fit. Every bar of a fit song is one example: its chords and melody (the
conditions), its true previous bar (when the bar directly follows a kept bar) and its piano part (the
target). Each time a bar is drawn it is transposed by a seeded shift in the training range (chords,
melody, both bars' notes alike); ``previous_bar_dropout`` of the bars lose their previous bar and
``melody_dropout`` have their melody marked unknown, so the model also plays a first bar and a bar
whose melody it has not heard yet.

Free-running, the previous bar is the model's own, and its slips pile up (left alone, the bars grow
denser and denser). So at ``own_previous_start_share`` of the planned steps the model plays the
previous bar of ``own_previous_bars`` fit bars itself (after the true bar before it), and from then
on ``own_previous_batch_share`` of every batch learns the true bar after the model's own previous bar
(one step of DAgger / scheduled sampling); half the validation bars get their own previous bar too,
and the kept weights are chosen among the validations after that point.

Loss: teacher-forced cross-entropy of each note's onset (and of the end of the bar), pitch token,
duration and velocity bin (weighted), under the grammar masks of texture_model.py. The learning rate
warms up, then decays on a cosine to a tenth. Validation (every ``validate_every_steps``) keeps the
best weights; ``patience_validations`` without a better one stops. At the end the default sampling
is chosen on validation songs played free-running (``choose_sampling``).

The folder written: model.safetensors, config.json, README.md (card), loss.png, and checkpoint/
(resume state: weights, AdamW moments, the best weights, the model's own previous bars, counters as
JSON; not shipped).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F
from tqdm import tqdm

from agent.arranger.bars import SongBars, read_song_bars, song_folders
from agent.arranger.texture_config import SamplingConfig, TextureModelConfig, TextureTrainConfig
from agent.arranger.texture_model import (
    CONFIG_FILE, DURATION, FORMAT, ONSET, ONSET_END, PITCH, VELOCITY, TextureModel, duration_mask, encode_conditions, encode_notes,
    is_texture_model_folder, load_texture_model, onset_mask, pitch_mask, reference_pc, save_texture_model,
)
from agent.demo.make_pairs import is_heldout
from agent.errors import AntiphonError
from agent.files import check_replaceable
from agent.plots import line_panels
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

RESUME_DIR = "checkpoint"
BEST_FILE = "best.safetensors"
OWN_FILE = "own-previous.safetensors"
IGNORE = -100
# (temperature, top_p, onset_temperature, end_logit_bias) tried on validation songs
SAMPLING_CANDIDATES = tuple((t, 0.95, 1.0, b) for t in (0.85, 1.0) for b in (0.0, 1.0, 2.0))
SAMPLING_BARS = 600  # validation bars generated per candidate
SAMPLING_TOLERANCE = 0.15  # largest relative error of onsets per bar and polyphony for a candidate to be chosen


def split_songs(names: list[str], validation_share: float, seed: int) -> dict[str, list[str]]:
    """fit / validation / heldout song names: held out by the SHA-1 rule, validation drawn by the seed from the rest."""
    heldout = [n for n in names if is_heldout(n)]
    rest = [n for n in names if not is_heldout(n)]
    if len(rest) < 2:
        raise AntiphonError(f"{len(rest)} song(s) are not held out: training needs at least 2 (one fits, one validates)")
    order = np.random.default_rng(seed).permutation(len(rest))
    count = min(max(1, int(round(validation_share * len(rest)))), len(rest) - 1)
    validation = sorted(rest[i] for i in order[:count])
    return {"fit": [n for n in rest if n not in set(validation)], "validation": validation, "heldout": heldout}


# ----------------------------------------------------------------------------------------------
# examples and batches


@dataclass(frozen=True)
class Example:
    cond: np.ndarray  # [16, 4]
    prev: np.ndarray  # [Np, 5]
    cur: np.ndarray  # [Nc, 5]


def make_example(song: SongBars, index: int, config: TextureModelConfig, shift: int = 0, with_previous: bool = True, melody_known: bool = True,
                 previous_notes: np.ndarray | None = None) -> Example:
    """Bar ``index`` of a song (transposed by ``shift``) encoded after its previous bar: the true one,
    or ``previous_notes`` played in its place (by the model itself)."""
    bar = song.bars[index].transposed(shift)
    reference = reference_pc(bar.chords)
    cur, _ = encode_notes(bar.notes, bar.chords, reference, config)
    prev = np.zeros((0, 5), dtype=np.int64)
    if with_previous and index > 0 and song.follows[index]:
        before = song.bars[index - 1]
        if previous_notes is not None:
            before = before.with_notes(previous_notes)
        before = before.transposed(shift)
        prev, _ = encode_notes(before.notes, before.chords, reference, config)
    return Example(encode_conditions(bar, reference, config, melody_known), prev, cur)


@dataclass(frozen=True)
class Batch:
    cond: torch.Tensor  # [B, 16, 4]
    prev: torch.Tensor  # [B, Np, 5]
    prev_valid: torch.Tensor  # [B, Np]
    cur: torch.Tensor  # [B, Nc, 5]
    onset_target: torch.Tensor  # [B, Nc + 1]: the notes' onsets then the end (IGNORE after)
    note_valid: torch.Tensor  # [B, Nc]
    prev_onset: torch.Tensor  # [B, Nc + 1]: onset of the note before each position (-1 at the start)
    prev_pitch: torch.Tensor  # [B, Nc + 1]
    count: torch.Tensor  # [B, Nc + 1]: notes before each position


def collate(examples: list[Example]) -> Batch:
    b = len(examples)
    n_prev = max(1, max(len(e.prev) for e in examples))
    n_cur = max(1, max(len(e.cur) for e in examples))
    cond = np.stack([e.cond for e in examples])
    prev = np.zeros((b, n_prev, 5), dtype=np.int64)
    prev_valid = np.zeros((b, n_prev), dtype=bool)
    cur = np.zeros((b, n_cur, 5), dtype=np.int64)
    onset_target = np.full((b, n_cur + 1), IGNORE, dtype=np.int64)
    note_valid = np.zeros((b, n_cur), dtype=bool)
    prev_onset = np.full((b, n_cur + 1), -1, dtype=np.int64)
    prev_pitch = np.full((b, n_cur + 1), -1, dtype=np.int64)
    for i, e in enumerate(examples):
        n = len(e.cur)
        prev[i, : len(e.prev)] = e.prev
        prev_valid[i, : len(e.prev)] = True
        cur[i, :n] = e.cur
        note_valid[i, :n] = True
        onset_target[i, :n] = e.cur[:, ONSET]
        onset_target[i, n] = ONSET_END
        prev_onset[i, 1 : n + 1] = e.cur[:, ONSET]
        prev_pitch[i, 1 : n + 1] = e.cur[:, PITCH]
    count = np.broadcast_to(np.arange(n_cur + 1), (b, n_cur + 1)).copy()
    t = torch.from_numpy
    return Batch(t(cond), t(prev), t(prev_valid), t(cur), t(onset_target), t(note_valid), t(prev_onset), t(prev_pitch), t(count))


def batch_losses(model: TextureModel, batch: Batch) -> dict[str, torch.Tensor]:
    """Mean cross-entropy per field (nats): onset (with the end), pitch, duration, velocity."""
    c = model.config
    h = model(batch.cond, batch.prev, batch.prev_valid, batch.cur)
    onset_logits = model.onset_logits(h).masked_fill(~onset_mask(batch.prev_onset, batch.prev_pitch, batch.count, c), -1e9)
    hn = h[:, :-1]
    cur = batch.cur
    pitch_logits, duration_logits, velocity_logits = model.note_logits(hn, batch.cond, cur[..., ONSET], cur[..., PITCH], cur[..., DURATION])
    pitch_logits = pitch_logits.masked_fill(~pitch_mask(cur[..., ONSET], batch.prev_onset[:, :-1], batch.prev_pitch[:, :-1], c), -1e9)
    duration_logits = duration_logits.masked_fill(~duration_mask(cur[..., ONSET]), -1e9)
    valid = batch.note_valid

    def ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits[valid], target[valid])

    return {
        "onset": F.cross_entropy(onset_logits.reshape(-1, onset_logits.shape[-1]), batch.onset_target.reshape(-1), ignore_index=IGNORE),
        "pitch": ce(pitch_logits, cur[..., PITCH]),
        "duration": ce(duration_logits, cur[..., DURATION]),
        "velocity": ce(velocity_logits, cur[..., VELOCITY]),
    }


def total_loss(losses: dict[str, torch.Tensor], config: TextureTrainConfig) -> torch.Tensor:
    return losses["onset"] + losses["pitch"] + losses["duration"] + config.velocity_loss_weight * losses["velocity"]


@torch.no_grad()
def validate(model: TextureModel, batches: list[Batch], config: TextureTrainConfig) -> dict[str, float]:
    """Teacher-forced losses over the validation bars (weighted by batch size)."""
    model.eval()
    sums: dict[str, float] = {}
    total = 0
    for batch in batches:
        losses = batch_losses(model, batch)
        losses["total"] = total_loss(losses, config)
        size = batch.cond.shape[0]
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v) * size
        total += size
    model.train()
    return {k: v / max(total, 1) for k, v in sums.items()}


def validation_batches(songs: list[SongBars], keys: list[tuple[int, int]], config: TextureModelConfig,
                       own: dict[tuple[int, int], np.ndarray], size: int = 256) -> list[Batch]:
    """Every validation bar after its true previous bar, or after the model's own where ``own`` has one."""
    examples = [make_example(songs[i], j, config, previous_notes=own.get((i, j))) for i, j in keys]
    return [collate(examples[k : k + size]) for k in range(0, len(examples), size)]


def play_own_previous(model: TextureModel, fit: list[SongBars], validation: list[SongBars], config: TextureTrainConfig
                      ) -> tuple[dict[tuple[int, int], np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """The model's own previous bar for ``own_previous_bars`` fit bars and half the validation bars
    (drawn by the seed): bar j - 1 played after the true bar j - 2, as it would be on stage (sampled
    at temperature 1, top-p 0.95). Training on the true bar j after it teaches the model to recover
    from its own slips rather than to carry them on (free-running, they would pile up: denser and
    denser bars)."""
    from agent.arranger.texture_model import generate_bar

    model.eval()
    rng = np.random.default_rng([config.seed, 7])
    generator = torch.Generator().manual_seed(config.seed)
    sampling = SamplingConfig(temperature=1.0, top_p=0.95)

    def play(songs: list[SongBars], keys: list[tuple[int, int]], desc: str) -> dict[tuple[int, int], np.ndarray]:
        out = {}
        for i, j in tqdm(keys, desc=desc, unit="bar", disable=None, leave=False):
            song = songs[i]
            before = song.bars[j - 2] if j >= 2 and song.follows[j - 1] else None
            out[(i, j)] = generate_bar(model, song.bars[j - 1], before, sampling, generator)
        return out

    t0 = time.perf_counter()
    fit_keys = [(i, j) for i, s in enumerate(fit) for j in range(1, len(s.bars)) if s.follows[j]]
    val_keys = [(i, j) for i, s in enumerate(validation) for j in range(1, len(s.bars)) if s.follows[j]]
    fit_pick = sorted(rng.choice(len(fit_keys), min(config.own_previous_bars, len(fit_keys)), replace=False).tolist())
    val_pick = sorted(rng.choice(len(val_keys), len(val_keys) // 2, replace=False).tolist())
    own_fit = play(fit, [fit_keys[k] for k in fit_pick], "own previous bars (fit)")
    own_val = play(validation, [val_keys[k] for k in val_pick], "own previous bars (validation)")
    log.info("the model played %d previous bars of fit songs and %d of validation songs in %.0f s", len(own_fit), len(own_val), time.perf_counter() - t0)
    return own_fit, own_val


def write_own_previous(path: Path, own_fit: dict[tuple[int, int], np.ndarray], own_val: dict[tuple[int, int], np.ndarray]) -> None:
    """The model's own previous bars, for a resume (safetensors: keys [K, 3] = split, song, bar; offsets; notes)."""
    rows = [(split, i, j, notes) for split, own in ((0, own_fit), (1, own_val)) for (i, j), notes in own.items()]
    keys = np.array([r[:3] for r in rows], dtype=np.int64).reshape(-1, 3)
    offsets = np.cumsum([0] + [len(r[3]) for r in rows]).astype(np.int64)
    notes = np.concatenate([r[3].reshape(-1, 4) for r in rows] or [np.zeros((0, 4))]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"keys": torch.from_numpy(keys), "offsets": torch.from_numpy(offsets), "notes": torch.from_numpy(notes)}, str(path))


def read_own_previous(path: Path) -> tuple[dict[tuple[int, int], np.ndarray], dict[tuple[int, int], np.ndarray]]:
    if not path.is_file():
        raise AntiphonError(f"{path}: missing (the resume state is incomplete); start afresh without --resume")
    t = {k: v.numpy() for k, v in load_file(str(path)).items()}
    out: tuple[dict, dict] = ({}, {})
    for k, (split, i, j) in enumerate(t["keys"]):
        out[int(split)][(int(i), int(j))] = t["notes"][t["offsets"][k] : t["offsets"][k + 1]]
    return out


def length_batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator, pool_batches: int = 16) -> list[np.ndarray]:
    """One epoch's batches of example indices: shuffled, then sorted by size within pools of
    ``pool_batches`` batches, so that a batch holds bars of similar lengths (less padding, about
    1.5 times faster), and the batches shuffled."""
    order = rng.permutation(len(sizes))
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        part = part[np.argsort(sizes[part], kind="stable")]
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _learning_rate(step: int, total_steps: int, config: TextureTrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------------------------
# the run


def _open_output(out_dir: Path, resume: bool, force: bool) -> Path:
    resume_dir = out_dir / RESUME_DIR
    if resume and not (resume_dir / "state.json").is_file():
        raise AntiphonError(f"nothing to resume in {out_dir} (no {RESUME_DIR}/state.json)")
    if force and not resume:
        check_replaceable(out_dir, is_texture_model_folder, "texture model", f"{CONFIG_FILE} of format {FORMAT}")
    elif not resume and out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise AntiphonError(f"{out_dir} already exists; pass --resume to continue its training or --force to replace it")
    return resume_dir


def train_texture(pop909: Path, out_dir: Path, model_config: TextureModelConfig, config: TextureTrainConfig,
                  resume: bool = False, force: bool = False, command: str = "") -> Path:
    """Train on a POP909 folder and write a texture model folder; returns it."""
    out_dir = Path(out_dir)
    resume_dir = _open_output(out_dir, resume, force)
    folders = song_folders(pop909)
    if config.songs:
        folders = folders[: config.songs]
    split = split_songs([f.name for f in folders], config.validation_share, config.seed)
    wanted = set(split["fit"]) | set(split["validation"])
    t_read = time.perf_counter()
    songs = {s.name: s for s in read_song_bars([f for f in folders if f.name in wanted], "reading training songs")}
    fit = [songs[n] for n in split["fit"] if n in songs]
    validation = [songs[n] for n in split["validation"] if n in songs]
    if not fit or not validation:
        raise AntiphonError(f"{pop909}: no bars of 4 beats in the {'fit' if not fit else 'validation'} songs")
    examples = [(i, j) for i, s in enumerate(fit) for j in range(len(s.bars))]
    log.info("texture: %d fit songs (%d bars), %d validation songs, %d held out; read in %.0f s",
             len(fit), len(examples), len(validation), len(split["heldout"]), time.perf_counter() - t_read)
    val_keys = [(i, j) for i, s in enumerate(validation) for j in range(len(s.bars))]
    val_batches = validation_batches(validation, val_keys, model_config, {})

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = TextureModel(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    sizes = np.array([len(fit[i].bars[j].notes) + (len(fit[i].bars[j - 1].notes) if j > 0 and fit[i].follows[j] else 0) for i, j in examples])
    steps_per_epoch = math.ceil(len(examples) / config.batch_size_bars)
    epoch_batches: list[np.ndarray] | None = None
    total_steps = config.max_epochs * steps_per_epoch if not config.max_steps else min(config.max_steps, config.max_epochs * steps_per_epoch)
    expect = {"model": model_config.to_dict(), "training": config.to_dict(), "fit_songs": [s.name for s in fit]}
    state: dict[str, Any] = {**expect, "step": 0, "history": [], "best_loss": math.inf, "best_step": -1, "bad_validations": 0, "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        log.info("resuming at step %d (best validation loss %.4f at step %d)", state["step"], state["best_loss"], state["best_step"])
    elif out_dir.exists() and force:
        shutil.rmtree(out_dir)  # _open_output has checked that it is a texture model folder (or empty)
    own_start = max(1, round(config.own_previous_start_share * total_steps)) if config.own_previous_bars and config.own_previous_batch_share else total_steps + 1
    own_fit: dict[tuple[int, int], np.ndarray] = {}
    if state.get("own_previous_from_step") is not None:  # resumed after the model played its own previous bars: the same ones
        own_fit, own_val = read_own_previous(resume_dir / OWN_FILE)
        val_batches = validation_batches(validation, val_keys, model_config, own_val)
    model.train()
    progress = tqdm(total=total_steps, initial=state["step"], desc="training texture model", unit="step", disable=None)
    recent: list[float] = []
    t0 = time.perf_counter()
    while state["step"] < total_steps and state["bad_validations"] < config.patience_validations:
        step = state["step"]
        if step == own_start:
            own_fit, own_val = play_own_previous(model, fit, validation, config)
            write_own_previous(resume_dir / OWN_FILE, own_fit, own_val)
            val_batches = validation_batches(validation, val_keys, model_config, own_val)
            state["best_loss"], state["bad_validations"] = math.inf, 0  # validation now mixes in the model's own previous bars: a new figure
            state["own_previous_from_step"] = step
            model.train()
        epoch, index = divmod(step, steps_per_epoch)
        if index == 0 or epoch_batches is None:
            epoch_batches = length_batches(sizes, config.batch_size_bars, np.random.default_rng([config.seed, epoch]))
        chosen = epoch_batches[index]
        rng = np.random.default_rng([config.seed, epoch, index, 1])
        shifts = rng.integers(-config.transpose_range_semitones + 1, config.transpose_range_semitones + 1, len(chosen)) if config.transpose_range_semitones else np.zeros(len(chosen), dtype=int)
        keep_prev = rng.random(len(chosen)) >= config.previous_bar_dropout
        know_melody = rng.random(len(chosen)) >= config.melody_dropout
        batch_examples = [make_example(fit[examples[e][0]], examples[e][1], model_config, int(s), bool(p), bool(m))
                          for e, s, p, m in zip(chosen, shifts, keep_prev, know_melody)]
        if own_fit:  # a share of the batch: true bars after the model's own previous bar
            keys = list(own_fit)
            for slot in np.nonzero(rng.random(len(chosen)) < config.own_previous_batch_share)[0]:
                i, j = keys[int(rng.integers(len(keys)))]
                batch_examples[slot] = make_example(fit[i], j, model_config, int(shifts[slot]), True, bool(know_melody[slot]), own_fit[(i, j)])
        batch = collate(batch_examples)
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout: the same after a resume
        loss = total_loss(batch_losses(model, batch), config)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, total_steps, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state["step"] = step + 1
        recent.append(float(loss.detach()))
        progress.update(1)
        if state["step"] % config.validate_every_steps == 0 or state["step"] == total_steps:
            val = validate(model, val_batches, config)
            state["train_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            state["history"].append({"step": state["step"], "epoch": round(state["step"] / steps_per_epoch, 3),
                                     "train_loss": float(np.mean(recent)), **{f"val_{k}": v for k, v in val.items()}})
            recent = []
            improved = val["total"] < state["best_loss"] - 1e-4
            if improved:
                state["best_loss"], state["best_step"], state["bad_validations"] = val["total"], state["step"], 0
                resume_dir.mkdir(parents=True, exist_ok=True)
                save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, str(resume_dir / BEST_FILE))
            else:
                state["bad_validations"] += 1
            progress.set_postfix(train=f"{state['history'][-1]['train_loss']:.3f}", val=f"{val['total']:.3f}", best=f"{state['best_loss']:.3f}")
            log.info("step %6d  train loss %.4f  validation loss %.4f (onset %.3f pitch %.3f duration %.3f velocity %.3f)%s", state["step"],
                     state["history"][-1]["train_loss"], val["total"], val["onset"], val["pitch"], val["duration"], val["velocity"], "  *" if improved else "")
            save_resume(resume_dir, model, optimizer, state)
    progress.close()
    if not (resume_dir / BEST_FILE).is_file():
        raise AntiphonError(f"training {out_dir} never validated (max steps below validate_every_steps?): no model was saved")
    model.load_state_dict(load_file(str(resume_dir / BEST_FILE)))
    model.eval()
    t_sampling = time.perf_counter()
    sampling, sampling_scores = choose_sampling(model, validation, config.seed)
    training = {
        "config": config.to_dict(),
        "status": "done",
        "steps_run": state["step"],
        "epochs_run": round(state["step"] / steps_per_epoch, 3),
        "best_step": state["best_step"],
        "best_val_loss": round(state["best_loss"], 5),
        "own_previous_from_step": state.get("own_previous_from_step"),
        "stopped_by": "early stopping" if state["bad_validations"] >= config.patience_validations else "step budget",
        "train_s": round(state["train_s"], 1),
        "sampling_choice": {**sampling_scores, "seconds": round(time.perf_counter() - t_sampling, 1)},
        "fit_songs": [s.name for s in fit],
        "validation_songs": [s.name for s in validation],
        "heldout_songs": split["heldout"],
        "fit_bars": len(examples),
        "skipped_bars": int(sum(s.skipped_bars for s in fit)),
        "command": command,
    }
    save_texture_model(out_dir, model, sampling, training)
    h = state["history"]
    marks = [(state["best_step"], f"kept: step {state['best_step']}")]
    if state.get("own_previous_from_step") is not None:
        marks.insert(0, (state["own_previous_from_step"], "from here: own previous bars in training and validation"))
    line_panels(out_dir / "loss.png", [x["step"] for x in h], "step", [
        ("loss (nats, the four fields summed)", [("train", [x["train_loss"] for x in h]), ("validation", [x["val_total"] for x in h])]),
        ("validation loss per field (nats)", [(k, [x[f"val_{k}"] for x in h]) for k in ("onset", "pitch", "duration", "velocity")]),
    ], marks=marks)
    write_texture_card(out_dir)
    log.info("wrote texture model %s (best step %d of %d)", out_dir, state["best_step"], state["step"])
    return out_dir


def choose_sampling(model: TextureModel, validation: list[SongBars], seed: int) -> tuple[SamplingConfig, dict[str, Any]]:
    """The default sampling, chosen on validation songs played free-running: of SAMPLING_CANDIDATES,
    the one with the best texture similarity among those whose onsets per bar and polyphony are
    within SAMPLING_TOLERANCE of the true parts' (texture similarity alone would favour too dense
    bars: a busy bar shares onsets with most patterns); when none is, the one nearest in both."""
    from agent.arranger.texture_eval import Tally, free_running

    songs, bars = [], 0
    for song in validation:
        if bars >= SAMPLING_BARS:
            break
        songs.append(song)
        bars += len(song.bars)
    truth = Tally()
    for song in songs:
        for bar in song.bars:
            truth.add(song.name, bar.notes, bar)
    true = truth.figures()
    rows = []
    for candidate in SAMPLING_CANDIDATES:
        sampling = SamplingConfig(*candidate)
        tally = Tally()
        for song in songs:
            for notes, bar in zip(free_running(model, song, sampling, seed), song.bars):
                tally.add(song.name, notes, bar)
        f = tally.figures()
        off = max(abs(f["onsets_per_bar"] / max(true["onsets_per_bar"], 1e-9) - 1), abs(f["polyphony"] / max(true["polyphony"], 1e-9) - 1))
        rows.append({**sampling.to_dict(), "texture_similarity": round(f["texture_similarity"], 4), "onsets_per_bar": round(f["onsets_per_bar"], 2),
                     "polyphony": round(f["polyphony"], 3), "largest_ratio_error": round(off, 4)})
    eligible = [r for r in rows if r["largest_ratio_error"] <= SAMPLING_TOLERANCE]
    best = max(eligible, key=lambda r: r["texture_similarity"]) if eligible else min(rows, key=lambda r: r["largest_ratio_error"])
    chosen = SamplingConfig(best["temperature"], best["top_p"], best["onset_temperature"], best["end_logit_bias"])
    log.info("sampling: %s chosen on %d validation bars (%s)", chosen, bars, rows)
    return chosen, {"bars": bars, "true_onsets_per_bar": round(true["onsets_per_bar"], 2), "true_polyphony": round(true["polyphony"], 3),
                    "tolerance": SAMPLING_TOLERANCE, "candidates": rows}


def write_texture_card(out_dir: Path) -> Path:
    """The card of a freshly trained texture model (``evaluate-texture --update-card`` adds the held-out table)."""
    from agent.decision.model_card import set_card_section

    bundle = load_texture_model(out_dir)
    c, t = bundle.config, bundle.meta["training"]
    tc = t["config"]
    size_mb = (out_dir / "model.safetensors").stat().st_size / 1e6
    text = "\n".join([
        f"# Texture model `{out_dir.name}`",
        "",
        "Piano accompaniment, one bar at a time on a 16th-note grid, from the bar's chords (majmin, per step) and melody and the",
        "previous bar of its own accompaniment (agent/arranger/texture_model.py). Pitches are relative to the bar's first chord root and to",
        "the chord at each note's onset, so it plays in every key; which chord tones, register and rhythm it plays is learned,",
        "no voicing rule is written.",
        "",
        "## Rebuild",
        "",
        "```",
        "bash scripts/train-texture-model.sh DIR/POP909",
        "```",
        "",
        f"The training command it runs: `{t.get('command') or 'train_texture(...) from Python'}`.",
        "",
        "## Data",
        "",
        "- POP909 (Wang et al., ISMIR 2020; MIT licence; github.com/music-x-lab/POP909-Dataset): PIANO track as target, MELODY and the chord annotations as conditions",
        f"- songs: {len(t['fit_songs'])} fit ({t['fit_bars']} bars of 4 beats; {t['skipped_bars']} bars of other lengths skipped), "
        f"{len(t['validation_songs'])} validation (seeded), {len(t['heldout_songs'])} held out (SHA-1 of the name % 10 == 0; never read in training)",
        f"- augmentation: every bar transposed by a seeded -{tc['transpose_range_semitones'] - 1}..+{tc['transpose_range_semitones']} semitones; "
        f"{tc['previous_bar_dropout']:.0%} without their previous bar, {tc['melody_dropout']:.0%} with the melody marked unknown",
        f"- the model's own previous bars (one step of DAgger): from step {t.get('own_previous_from_step')}, {tc['own_previous_batch_share']:.0%} of every batch is a true bar "
        f"after the previous bar as the model itself played it ({tc['own_previous_bars']} fit bars), so that free-running slips do not pile up",
        "",
        "## Model",
        "",
        f"- Transformer decoder over one token per note event: {c.num_layers} layers, width {c.width}, {c.num_heads} heads, FFN {c.ffn_width}, dropout {c.dropout}",
        "- prefix: 16 step tokens (chord, melody pitch/interval/onset) and the previous bar's notes (bidirectional); then the bar's notes, causal",
        f"- per note: onset step (or end of bar), pitch ({c.relative_pitch_count} tokens above reference + chord root), duration 1..16 steps, velocity ({c.velocity_bins} bins); at most {c.max_notes_per_bar} notes per bar",
        f"- {bundle.meta['parameters']:,} parameters; `model.safetensors` {size_mb:.2f} MB (float16)",
        f"- default sampling: temperature {bundle.sampling.temperature}, top-p {bundle.sampling.top_p}, onset temperature {bundle.sampling.onset_temperature}, "
        f"end-of-bar logit bias {bundle.sampling.end_logit_bias}: "
        f"chosen on {t['sampling_choice']['bars']} bars of validation songs played free-running, the best texture similarity among the candidates whose "
        f"onsets per bar and polyphony are within {t['sampling_choice']['tolerance']:.0%} of the true parts' (`config.json`, training.sampling_choice)",
        "",
        "## Training",
        "",
        f"- {t['steps_run']} steps ({t['epochs_run']} epochs) of {tc['batch_size_bars']} bars, AdamW lr {tc['learning_rate']} (warm-up {tc['warmup_steps']}, cosine to a tenth), "
        f"weight decay {tc['weight_decay']}, seed {tc['seed']}, torch threads {tc['threads']}; stopped by {t['stopped_by']}",
        f"- kept: step {t['best_step']}, validation loss {t['best_val_loss']} nats (onset + pitch + duration + {tc['velocity_loss_weight']} x velocity); {t['train_s']:.0f} s of training",
        "- loss curves: `loss.png`",
        "",
    ])
    card = out_dir / "README.md"
    card.write_text(text, encoding="utf-8")  # a retrained model's card starts afresh: no stale figures
    return set_card_section(card, "Held-out evaluation", "Not evaluated yet: `antiphon evaluate-texture --model "
                            f"{out_dir} --pop909 DIR/POP909 --update-card`.")
