"""Training the decision model on a corpus: seeded, resumable, early-stopped, DDP-capable.

Single process by default. Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins a gloo process group,
wraps the model in DistributedDataParallel and gives each rank its share of every epoch's crops.
Every rank validates (cheap; the weights are identical, so every rank takes the same
early-stopping decision without extra messages) and rank 0 alone writes files.

Data: the corpus's training pieces (held-out pieces are never seen; a seeded share of the training
pieces is kept apart for validation and early stopping). Augmentation: random crops with random
offsets each epoch, and "answer dropout": a share of the previous-answer inputs is replaced by
random labels, so the model learns to lean on the performer rather than copy its own past, which
is what free-running (live) use needs.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from agent.corpus.format import Corpus, load_corpus
from agent.decision.checkpoint import CONFIG_FILE, load_model, save_model
from agent.decision.config import MODEL_FORMAT, DecisionConfig, TrainConfig
from agent.decision.data import IGNORE_INDEX, StepSequence, random_crops, step_sequence
from agent.decision.evaluate import TrainingCounts, best_trivial, evaluate, format_table, free_running, markdown_table, write_report
from agent.decision.model import DecisionModel
from agent.decision.model_card import write_model_card
from agent.distributed import barrier, join_process_group, leave_process_group
from agent.playback.grain_selection import GrainSelector
from agent.errors import AntiphonError
from agent.files import check_replaceable, json_object_or_none
from agent.pairs import work_of
from agent.plots import line_panels
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

RESUME_DIR = "checkpoint"


@dataclass(frozen=True)
class _Split:
    fit: list[StepSequence]
    validation: list[StepSequence]
    heldout: list[StepSequence]
    heldout_pieces: list[int]


def corpus_sequences(corpus: Corpus, pieces: list[int], config: DecisionConfig) -> list[StepSequence]:
    out = []
    for i in pieces:
        a, b = corpus.sequences(i)
        out.append(step_sequence(corpus.piece_names[i], a, b, config.anticipation_chunks, config.start_token))
    return out


def split_pieces(corpus: Corpus, validation_fraction: float, seed: int) -> tuple[list[int], list[int], list[int]]:
    """(fit, validation, held-out) piece indices: held out by the corpus, validation a seeded share of
    the rest, drawn by work (every rendering of a validation work validates; see agent/pairs.py)."""
    n = len(corpus.piece_names)
    heldout = [i for i in range(n) if corpus.piece_split(i) == "heldout"]
    train = [i for i in range(n) if corpus.piece_split(i) != "heldout"]
    work = corpus.piece_work
    train_works = sorted({int(work[i]) for i in train})  # without variants: the pieces themselves
    both = set(train_works) & {int(work[i]) for i in heldout}
    if both:
        name = corpus.piece_names[next(i for i in heldout if work[i] in both)]
        raise AntiphonError(f"corpus {corpus.path}: work '{work_of(name)}' is held out in one rendering and trained on in another; rebuild the corpus (build-corpus holds out every rendering)")
    if len(train_works) < 2:
        raise AntiphonError(f"corpus {corpus.path} has {len(train_works)} training work(s); training needs at least 2 (one for validation)")
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(train_works)]
    n_val = max(1, int(round(validation_fraction * len(train_works))))
    validation_works = set(order[:n_val])
    return [i for i in train if work[i] not in validation_works], [i for i in train if work[i] in validation_works], heldout


def split_corpus(corpus: Corpus, config: DecisionConfig, validation_fraction: float, seed: int) -> _Split:
    fit, validation, heldout = split_pieces(corpus, validation_fraction, seed)
    return _Split(
        fit=corpus_sequences(corpus, fit, config),
        validation=corpus_sequences(corpus, validation, config),
        heldout=corpus_sequences(corpus, heldout, config),
        heldout_pieces=heldout,
    )


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a decision model's config.json (what ``train --force`` may replace;
    training writes it at its first epoch, before any resume state)."""
    meta = json_object_or_none(Path(folder) / CONFIG_FILE)
    return meta is not None and meta.get("format") == MODEL_FORMAT


def open_training(corpus_dir: Path, out_dir: Path, num_labels: int, resume: bool, force: bool) -> tuple[Path, Corpus]:
    """Check the output folder against --resume/--force and load the corpus (one-line errors).

    ``force`` replaces only an empty folder or a model folder: anything else is refused, untouched."""
    resume_dir = out_dir / RESUME_DIR
    if resume and not (resume_dir / "state.json").is_file():
        raise AntiphonError(f"nothing to resume in {out_dir} (no {RESUME_DIR}/state.json)")
    if force and not resume:
        check_replaceable(out_dir, is_model_folder, "model", f"model ({CONFIG_FILE} of format {MODEL_FORMAT})")
    elif not resume and out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise AntiphonError(f"{out_dir} already exists; pass --resume to continue its training or --force to replace it")
    corpus = load_corpus(Path(corpus_dir), with_audio=False)
    if corpus.codebook.size != num_labels:
        raise AntiphonError(f"model config has {num_labels} labels but corpus {corpus.path} has {corpus.codebook.size}")
    return resume_dir, corpus


def _lr(step: int, config: TrainConfig) -> float:
    return config.learning_rate * min(1.0, (step + 1) / max(config.warmup_steps, 1))


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, state: dict[str, Any], config: TrainConfig) -> None:
    """One AdamW step: warm-up learning rate, gradients clipped to norm 1, ``state["step"]`` counted."""
    for group in optimizer.param_groups:
        group["lr"] = _lr(state["step"], config)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    state["step"] += 1


@torch.no_grad()
def validate(model: DecisionModel, sequences: list[StepSequence]) -> dict[str, float]:
    """Teacher-forced loss and accuracy, and free-running accuracy, over whole sequences."""
    model.eval()
    loss_sum, hits_tf, hits_fr, total = 0.0, 0, 0, 0
    for s in sequences:
        logits = model(torch.from_numpy(s.source)[None], torch.from_numpy(s.answer_prev)[None])[0]
        target = torch.from_numpy(s.target)
        loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
        hits_tf += int((logits.argmax(-1) == target).sum())
        hits_fr += int(np.sum(free_running(model, s) == s.target))
        total += len(s)
    return {"loss": loss_sum / max(total, 1), "accuracy_tf": hits_tf / max(total, 1), "accuracy_fr": hits_fr / max(total, 1)}


def train(
    corpus_dir: Path,
    out_dir: Path,
    model_config: DecisionConfig,
    config: TrainConfig,
    resume: bool = False,
    force: bool = False,
    command: str = "",
) -> Path:
    """Train on a corpus and write a model folder (weights, config, card, loss PNG, evaluation)."""
    out_dir = Path(out_dir)
    resume_dir, corpus = open_training(corpus_dir, out_dir, model_config.num_labels, resume, force)
    rank, world = join_process_group()
    # every rank checks the output folder in open_training; none may see it while rank 0 empties
    # it (--force) or writes in it, or a slow rank would refuse a half-deleted model folder
    barrier(world)
    split = split_corpus(corpus, model_config, config.validation_fraction, config.seed)
    fit_chunks = sum(len(s) for s in split.fit)
    if rank == 0:
        log.info(
            "training on %d pieces (%d chunks), validating on %d, %d held out; %d process(es)",
            len(split.fit), fit_chunks, len(split.validation), len(split.heldout), world,
        )
    torch.manual_seed(config.seed)
    model = DecisionModel(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    expect = {"model": model_config.to_dict(), "train": asdict(config), "corpus_codebook_sha256": corpus.manifest["files"]["codebook.npy"]}
    state: dict[str, Any] = {**expect, "epoch": 0, "step": 0, "history": [], "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        if rank == 0:
            log.info("resuming after epoch %d (best validation figure %.4f at epoch %d)", state["epoch"], state["best_loss"], state["best_epoch"])
    elif rank == 0 and out_dir.exists() and force:
        for child in out_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    wrapped: torch.nn.Module = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model)

    done = state["bad_epochs"] >= config.patience_epochs
    while state["epoch"] < config.max_epochs and not done:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        source, answer, target = random_crops(split.fit, config.crop_chunks, rng, pad_token=model_config.start_token)
        if config.answer_dropout > 0:
            hit = rng.random(answer.shape) < config.answer_dropout
            answer = np.where(hit, rng.integers(0, model_config.num_labels, answer.shape), answer)
        per_rank = len(source) // world
        rows = np.arange(rank, per_rank * world, world)
        torch.manual_seed(config.seed * 1_000_003 + epoch * 101 + rank)
        wrapped.train()
        losses = []
        batches = range(0, len(rows), config.batch_size)
        for b in tqdm(batches, desc=f"epoch {epoch + 1}/{config.max_epochs}", unit="batch", disable=None if rank == 0 else True, leave=False):
            idx = rows[b : b + config.batch_size]
            logits = wrapped(torch.from_numpy(source[idx]), torch.from_numpy(answer[idx]))
            loss = F.cross_entropy(
                logits.reshape(-1, model_config.num_labels), torch.from_numpy(target[idx]).reshape(-1),
                ignore_index=IGNORE_INDEX, label_smoothing=config.label_smoothing,
            )
            optimizer_step(model, optimizer, loss, state, config)
            losses.append(loss.item())
        val = validate(model, split.validation)
        train_loss = float(np.mean(losses)) if losses else math.nan
        state["train_s"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val["loss"], "val_accuracy_tf": val["accuracy_tf"], "val_accuracy_fr": val["accuracy_fr"]})
        # "best_loss" holds the selection figure, lower is better: the loss, or minus free-running accuracy
        figure = val["loss"] if config.select_on == "loss" else -val["accuracy_fr"]
        improved = figure < state["best_loss"] - 1e-4
        if improved:
            state["best_loss"], state["best_epoch"], state["bad_epochs"] = figure, epoch + 1, 0
        else:
            state["bad_epochs"] += 1
        if rank == 0:
            log.info(
                "epoch %3d  train loss %.4f  val loss %.4f  val acc %.1f%% (teacher-forced) %.1f%% (free-running)%s",
                epoch + 1, train_loss, val["loss"], 100 * val["accuracy_tf"], 100 * val["accuracy_fr"], "  *" if improved else "",
            )
            if improved:
                save_model(out_dir, model, corpus, {"status": "training"})
            save_resume(resume_dir, model, optimizer, state)
        done = state["bad_epochs"] >= config.patience_epochs
    barrier(world)
    if rank == 0:
        _finish(out_dir, corpus, split, model_config, config, state, world, command)
    leave_process_group(world)
    return out_dir


def _finish(out_dir: Path, corpus: Corpus, split: _Split, model_config: DecisionConfig, config: TrainConfig, state: dict[str, Any], world: int, command: str) -> None:
    """Evaluate the best weights on the held-out pieces and write config, card, PNGs."""
    bundle = load_model(out_dir)
    model = bundle.model
    counts = TrainingCounts.from_sequences(split.fit + split.validation, model_config.num_labels)
    results, trivial = [], None
    heldout_metrics: dict[str, Any] = {}
    if split.heldout:
        selector = GrainSelector.from_corpus(corpus, exclude_pieces=split.heldout_pieces)
        results = evaluate(model, split.heldout, counts, selector=selector, seed=config.seed)
        trivial = best_trivial(results)
        write_report(results, split.heldout, model_config.num_labels, out_dir, {"corpus": corpus.path.name, "model": str(out_dir)})
        fr = next(r for r in results if r.method == "model" and r.mode == "free-running")
        tf = next(r for r in results if r.method == "model" and r.mode == "teacher-forced")
        heldout_metrics = {
            "pieces": len(split.heldout),
            "chunks": sum(len(s) for s in split.heldout),
            "accuracy_free_running": round(fr.accuracy, 4),
            "accuracy_teacher_forced": round(tf.accuracy, 4),
            "best_trivial_baseline": trivial.method,
            "best_trivial_accuracy": round(trivial.accuracy, 4),
            "ratio_to_best_trivial": round(fr.accuracy / max(trivial.accuracy, 1e-9), 3),
        }
        log.info("held-out results (%d pieces):\n%s", len(split.heldout), "\n".join("  " + line for line in format_table(results).splitlines()))
    else:
        log.warning("corpus %s has no held-out pieces: no held-out evaluation in the model card", corpus.path)
    training = {
        **asdict(config),
        "processes": world,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_val_figure": round(state["best_loss"], 5),
        "train_s": round(state["train_s"], 1),
        "fit_pieces": [s.name for s in split.fit],
        "validation_pieces": [s.name for s in split.validation],
        "heldout_pieces": [s.name for s in split.heldout],
        "fit_chunks": sum(len(s) for s in split.fit),
        "heldout": heldout_metrics,
        "command": command,
        "status": "done",
    }
    save_model(out_dir, model, corpus, training)
    _plot_losses(state["history"], state["best_epoch"], out_dir / "loss.png")
    write_model_card(out_dir, load_model(out_dir), corpus, training, markdown_table(results) if results else "", state["history"])
    log.info("wrote model %s (best epoch %d of %d)", out_dir, state["best_epoch"], state["epoch"])


def _plot_losses(history: list[dict[str, float]], best_epoch: int, png: Path) -> None:
    line_panels(png, [h["epoch"] for h in history], "epoch", [
        ("cross-entropy (nats)", [("train (label-smoothed, answer dropout)", [h["train_loss"] for h in history]),
                                  ("validation (teacher-forced)", [h["val_loss"] for h in history])]),
        ("validation accuracy (%)", [("teacher-forced", [100 * h["val_accuracy_tf"] for h in history]),
                                     ("free-running", [100 * h["val_accuracy_fr"] for h in history])]),
    ], marks=[(best_epoch, f"best epoch {best_epoch}")])
