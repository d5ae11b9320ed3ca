"""Training the listener on a corpus: seeded, resumable, early-stopped, one process.

What it learns from the pairs: for every training chunk t, the grains that *sound like the true
answer at chunk t + 1* (the ``targets_k`` corpus grains nearest to that chunk's answer feature, from
other works, weighted by closeness) are the targets of a softmax over the candidate grains' scores. So
the listener learns which recorded grains answer what it hears, in the feature space that keeps
pitch and timbre, with no rule about intervals. The label head learns the next answer label with
cross-entropy (label smoothing). Validation: the same loss on held-apart training pieces, with
each piece's own grains excluded from the candidates (as at evaluation and on stage).

"A piece's own grains" means its work's: the renderings ``<work>@<variant>`` of one work (the
same chorale transposed) never serve as each other's targets or candidates (agent/pairs.py).
When the corpus holds more than ``TrainConfig.negatives`` training grains, each batch scores a
uniform sample of that many plus every target of the batch, with the sampled-softmax correction
log(N / sampled) on the sampled ones (validation uses one fixed sample), so an epoch's cost grows
with the corpus, not with its square.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from agent import paths
from agent.corpus.format import Corpus
from agent.decision.checkpoint import load_model, save_model
from agent.decision.config import ListenerConfig, TrainConfig
from agent.decision.listener import FeatureStats, ListenerModel, grain_key_inputs, soft_target_loss
from agent.decision.train import open_training, optimizer_step, split_pieces
from agent.errors import AntiphonError
from agent.plots import line_panels
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

TARGETS_K = 8  # grains per soft target
TARGETS_VERSION = 2  # of the nearest-answer search: part of its cache key (2: keyed on the answer audio, bounds and split)
SEARCH_BLOCK_BYTES = 256 * 2**20  # distances held at once by the search


@dataclass(frozen=True)
class ListenerData:
    """Standardised features and soft targets of a corpus, ready for training or scoring."""

    source: np.ndarray  # [N, D] every grain's performer feature (standardised)
    key_inputs: np.ndarray  # [N, 3D]
    piece: np.ndarray  # [N]
    work: np.ndarray  # [N] the work of each grain's piece (renderings of one work share it)
    label: np.ndarray  # [N] answer labels
    memory: np.ndarray  # grain indices that may be answered with (the training pieces' grains)
    target_index: np.ndarray  # [N, k] positions in ``memory`` nearest to grain n's answer feature (other works)
    target_weight: np.ndarray  # [N, k]


def listener_data(corpus: Corpus, memory_pieces: list[int], stats: FeatureStats, k: int = TARGETS_K) -> ListenerData:
    g = corpus.grains
    answer = stats.answer(g.feature)
    source = stats.source(g.source_feature)
    work = corpus.piece_work[g.piece]
    memory = np.nonzero(np.isin(g.piece, memory_pieces))[0]
    if len(memory) <= k:
        raise AntiphonError(f"corpus {corpus.path} has {len(memory)} training grains; the listener needs more than {k}")
    fitted_on_memory = FeatureStats.fit(g.source_feature[memory], g.feature[memory])
    same_stats = np.allclose(stats.answer_mean, fitted_on_memory.answer_mean, atol=1e-5) and np.allclose(stats.answer_std, fitted_on_memory.answer_std, rtol=1e-5)
    key = _targets_key(corpus, memory, work, k) if same_stats else None  # the key assumes the answer statistics of the memory
    index, dist = nearest_other_work(answer, work, memory, k, cache_key=key)
    finite = np.isfinite(dist)
    tau = float(np.median(dist[:, 0][finite[:, 0]])) if finite[:, 0].any() else 1.0
    weight = np.where(finite, np.exp(-(dist - dist[:, :1]) / max(tau, 1e-6)), 0.0)
    weight /= np.maximum(weight.sum(axis=1, keepdims=True), 1e-12)
    return ListenerData(
        source=source, key_inputs=grain_key_inputs(answer, source, g.piece), piece=g.piece.astype(np.int64), work=work, label=g.label.astype(np.int64),
        memory=memory, target_index=index, target_weight=weight.astype(np.float32),
    )


def _targets_key(corpus: Corpus, memory: np.ndarray, work: np.ndarray, k: int) -> str:
    """The cache key of the nearest-answer search, from what decides its input exactly: the answer
    audio (the manifest's hashes), how it was cut and perceived (and by which Antiphon version: the
    feature code), the grains' bounds, the memory, the works and k; the answer statistics are those
    fitted on the memory (``listener_data`` uses no cache otherwise). Not the features themselves: two builds of one corpus differ in their last
    float bits (threaded matrix products), and a corpus rebuilt with only its performer side
    changed (``--augment-source``) has the same answers, so both reuse the search."""
    m = corpus.manifest
    facts = {"version": TARGETS_VERSION, "antiphon": m.get("antiphon_version"), "k": k, "perception": m["perception"], "chunking": m["chunking"],
             "audio": [m["files"][p["audio"]] for p in m["pieces"]]}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    for array in (corpus.grains.start_sample, corpus.grains.end_sample, corpus.grains.piece, memory, work):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


def nearest_other_work(answer: np.ndarray, work: np.ndarray, memory: np.ndarray, k: int, cache_key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For every grain, the ``k`` positions in ``memory`` whose answer features are nearest to its own
    (squared distances; grains of its own work at infinity). An exact search, O(N x memory): on a
    large corpus minutes, so the result is cached under ``cache_key`` (in the cache folder, see
    agent/paths.py) and reused by every seed trained on the same corpus."""
    path = paths.cache_dir() / "listener-targets" / f"{cache_key}.npz" if cache_key else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                index, dist = cached["index"].astype(np.int64), cached["dist"]
            if index.shape == dist.shape == (len(answer), k) and index.min(initial=0) >= 0 and index.max(initial=0) < len(memory):
                log.info("listener targets read from the cache %s", path)
                return index, dist
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            log.warning("ignoring the unreadable target cache %s (%s)", path, exc)
    log.info("finding the %d nearest answers of %d grains among %d (once per corpus and split)", k, len(answer), len(memory))
    mem_answer = torch.from_numpy(answer[memory])
    mem_work = torch.from_numpy(work[memory])
    index = np.zeros((len(answer), k), dtype=np.int64)
    dist = np.zeros((len(answer), k), dtype=np.float32)
    block = max(16, SEARCH_BLOCK_BYTES // (4 * max(len(memory), 1)))  # rows per distance block: bounded memory
    for w in tqdm(np.unique(work), desc="listener targets", unit="work", disable=None, leave=False):
        rows = np.nonzero(work == w)[0]
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            d = torch.cdist(torch.from_numpy(answer[part]), mem_answer).pow_(2)
            d[:, mem_work == int(w)] = math.inf
            v, i = d.topk(k, largest=False)
            index[part], dist[part] = i.numpy(), v.numpy()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")  # a name of its own: two trainings may write at once
            with os.fdopen(handle, "wb") as out:
                np.savez(out, index=index.astype(np.int32), dist=dist)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not cache the listener targets in %s (%s); training goes on", path.parent, exc)
    return index, dist


def _crops(data: ListenerData, pieces: list[int], crop: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Step rows (grain indices whose next grain is in the same piece) cut into crops; shuffled when ``rng``."""
    out = []
    for p in pieces:
        rows = np.nonzero(data.piece == p)[0][:-1]
        if len(rows) == 0:
            continue
        offset = int(rng.integers(0, crop)) if rng is not None and len(rows) > crop else 0
        cuts = sorted({0, len(rows), *range(offset, len(rows), crop)})
        out += [rows[s:e] for s, e in zip(cuts[:-1], cuts[1:])]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def sample_candidates(n_memory: int, targets: np.ndarray, negatives: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate positions in memory, sorted; score correction per candidate; ``targets`` as
    positions among the candidates). All of memory when ``negatives`` is 0 or covers it; else a
    uniform sample of ``negatives`` plus every target, the sampled ones corrected by log(N / negatives)."""
    if negatives <= 0 or n_memory <= negatives:
        return np.arange(n_memory), np.zeros(n_memory, np.float32), targets
    forced = np.unique(targets)
    candidates = np.union1d(rng.choice(n_memory, negatives, replace=False), forced)
    correction = np.where(np.isin(candidates, forced), 0.0, math.log(n_memory / negatives)).astype(np.float32)
    return candidates, correction, np.searchsorted(candidates, targets)


def batch_loss(
    model: ListenerModel, data: ListenerData, crops: list[np.ndarray], label_smoothing: float, negatives: int = 0, rng: np.random.Generator | None = None,
    label_weight: float = 1.0,
) -> tuple[torch.Tensor, float, float, int]:
    """(total loss, grain loss, label loss, label hits) of a batch of crops; ``negatives`` > 0 scores a
    sample of the memory (``sample_candidates``, drawn with ``rng``) instead of all of it."""
    width = max(len(c) for c in crops)
    d = data.source.shape[1]
    x = np.zeros((len(crops), width, d), np.float32)
    valid = np.zeros((len(crops), width), bool)
    rows = np.zeros((len(crops), width), np.int64)
    for b, c in enumerate(crops):
        x[b, : len(c)] = data.source[c]
        valid[b, : len(c)] = True
        rows[b, : len(c)] = c
    queries, logits = model(torch.from_numpy(x))
    mask = torch.from_numpy(valid)
    steps = torch.from_numpy(rows[valid])
    nxt = rows[valid] + 1
    candidates, correction, targets = sample_candidates(len(data.memory), data.target_index[nxt], negatives, rng or np.random.default_rng(0))
    grains = data.memory[candidates]
    keys = model.keys(torch.from_numpy(data.key_inputs[grains]))
    scores = model.scores(queries[mask], keys) + torch.from_numpy(correction)
    own_work = torch.from_numpy(data.work[grains])[None, :] == torch.from_numpy(data.work)[steps][:, None]
    scores = scores.masked_fill(own_work, float("-inf"))
    grain = soft_target_loss(scores, torch.from_numpy(targets), torch.from_numpy(data.target_weight[nxt]))
    nxt = torch.from_numpy(nxt)
    labels = torch.from_numpy(data.label)[nxt]
    label = F.cross_entropy(logits[mask], labels, label_smoothing=label_smoothing)
    hits = int((logits[mask].argmax(-1) == labels).sum())
    return grain + label_weight * label, float(grain.detach()), float(label.detach()), hits


@torch.no_grad()
def validate(model: ListenerModel, data: ListenerData, pieces: list[int], negatives: int = 0, seed: int = 0) -> dict[str, float]:
    """Validation figures; with ``negatives`` the candidate samples are the same at every call (seeded)."""
    model.eval()
    grain_sum = label_sum = 0.0
    hits = total = 0
    rng = np.random.default_rng([seed, 17])
    for crop in _crops(data, pieces, 512, None):
        _, g, lab, h = batch_loss(model, data, [crop], 0.0, negatives, rng)
        grain_sum += g * len(crop)
        label_sum += lab * len(crop)
        hits += h
        total += len(crop)
    return {"grain_loss": grain_sum / max(total, 1), "label_loss": label_sum / max(total, 1), "label_accuracy": hits / max(total, 1)}


def train_listener(
    corpus_dir: Path, out_dir: Path, model_config: ListenerConfig, config: TrainConfig, resume: bool = False, force: bool = False, command: str = "",
) -> Path:
    """Train a listener on a corpus and write a model folder (weights, config, card, loss PNG)."""
    out_dir = Path(out_dir)
    resume_dir, corpus = open_training(corpus_dir, out_dir, model_config.num_labels, resume, force)
    if corpus.codebook.dim != model_config.feature_dim:
        raise AntiphonError(f"model config reads {model_config.feature_dim}-dimensional features but corpus {corpus.path} has {corpus.codebook.dim}")
    fit, validation, heldout = split_pieces(corpus, config.validation_fraction, config.seed)
    training_grains = np.isin(corpus.grains.piece, fit + validation)
    stats = FeatureStats.fit(corpus.grains.source_feature[training_grains], corpus.grains.feature[training_grains])
    data = listener_data(corpus, fit + validation, stats)
    log.info("listener: %d fit pieces, %d validation, %d held out; %d grains to answer with", len(fit), len(validation), len(heldout), len(data.memory))
    torch.manual_seed(config.seed)
    model = ListenerModel(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    expect = {"kind": "listener", "model": model_config.to_dict(), "train": asdict(config), "corpus_codebook_sha256": corpus.manifest["files"]["codebook.npy"]}
    state: dict[str, Any] = {**expect, "epoch": 0, "step": 0, "history": [], "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        log.info("resuming after epoch %d (best validation loss %.4f at epoch %d)", state["epoch"], state["best_loss"], state["best_epoch"])
    elif out_dir.exists() and force:
        shutil.rmtree(out_dir)  # open_training has checked that it is a model folder
    while state["epoch"] < config.max_epochs and state["bad_epochs"] < config.patience_epochs:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 1_000_003 + epoch * 101)
        crops = _crops(data, fit, config.crop_chunks, rng)
        model.train()
        losses = []
        for b in tqdm(range(0, len(crops), config.batch_size), desc=f"epoch {epoch + 1}/{config.max_epochs}", unit="batch", disable=None, leave=False):
            loss, grain, _, _ = batch_loss(model, data, crops[b : b + config.batch_size], config.label_smoothing, config.negatives, rng, config.label_weight)
            optimizer_step(model, optimizer, loss, state, config)
            losses.append(grain)
        val = validate(model, data, validation, config.negatives, config.seed)
        state["train_s"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_grain_loss": float(np.mean(losses)), **val})
        improved = val["grain_loss"] < state["best_loss"] - 1e-4
        if improved:
            state["best_loss"], state["best_epoch"], state["bad_epochs"] = val["grain_loss"], epoch + 1, 0
            save_model(out_dir, model, corpus, {"status": "training"}, stats)
        else:
            state["bad_epochs"] += 1
        log.info("epoch %3d  train grain loss %.4f  val grain loss %.4f  val label acc %.1f%%%s",
                 epoch + 1, np.mean(losses), val["grain_loss"], 100 * val["label_accuracy"], "  *" if improved else "")
        save_resume(resume_dir, model, optimizer, state)
    training = {
        **asdict(config),
        "kind": "listener",
        "processes": 1,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_val_figure": round(state["best_loss"], 5),
        "train_s": round(state["train_s"], 1),
        "fit_pieces": [corpus.piece_names[i] for i in fit],
        "validation_pieces": [corpus.piece_names[i] for i in validation],
        "heldout_pieces": [corpus.piece_names[i] for i in heldout],
        "fit_chunks": int(np.isin(corpus.grains.piece, fit).sum()),
        "memory_grains": int(len(data.memory)),
        "command": command,
        "status": "done",
    }
    if not (out_dir / "config.json").is_file():
        raise AntiphonError(f"training {out_dir} never reached a finite validation loss: no model was saved (too few grains per piece?)")
    best = load_model(out_dir)
    save_model(out_dir, best.model, corpus, training, best.feature_stats)
    h = state["history"]
    line_panels(out_dir / "loss.png", [x["epoch"] for x in h], "epoch", [
        ("grain cross-entropy (nats)", [("train", [x["train_grain_loss"] for x in h]), ("validation", [x["grain_loss"] for x in h])]),
        ("validation next-label accuracy (%)", [("label head", [100 * x["label_accuracy"] for x in h])]),
    ], marks=[(state["best_epoch"], f"best epoch {state['best_epoch']}")])
    log.info("wrote listener %s (best epoch %d of %d)", out_dir, state["best_epoch"], state["epoch"])
    return out_dir
