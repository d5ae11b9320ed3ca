"""`antiphon fit-label-head`: a listener's next-label head fitted again on a frozen trunk.

Why: the listener chooses grains with its query; the label head is a by-product trained beside the
grain loss, on every rendering of the training corpus. A label is a codebook word of the *answer
corpus the model plays* (its instrument, register and timbre as well as its pitch), so this fits
a small MLP head on the trunk's output over a corpus's own training pieces (by default the
corpus the model was trained on; `--corpus` may name the one it plays), early-stopped on that corpus's validation pieces
(split by the model's seed, by work). The trunk, the query and the grain keys are not touched:
every grain choice, so every listening figure, stays exactly as it was.

Then the *label mix* (``listener.label_log_scores``): the reported label may also weigh the label
mass of the grains the model's query scores. Its weight and temperature are chosen on the same
validation pieces, with the fit pieces' grains as the memory, among a small grid against the head
alone, and kept only if they beat it. Both parts are the model's own outputs; no rule about pitch
or intervals enters.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from agent.corpus.format import Corpus
from agent.decision.checkpoint import DecisionBundle, check_model_fits_corpus, load_model, rewrite_model
from agent.decision.config import LabelHeadConfig
from agent.decision.listener import ListenerModel, grain_keys, grain_label_log_mass, label_head, label_onehot
from agent.decision.train import split_pieces
from agent.errors import AntiphonError
from agent.plots import line_panels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadData:
    """Trunk outputs [N, W] and grain queries [N, E] of the steps of some pieces and the answer label
    of each step's next chunk."""

    hidden: torch.Tensor
    label: torch.Tensor
    query: torch.Tensor
    piece: torch.Tensor  # [N] the piece of each step


@torch.no_grad()
def trunk_outputs(model: ListenerModel, bundle: DecisionBundle, corpus: Corpus, pieces: list[int]) -> HeadData:
    """The trunk's output and the grain query at every chunk t of ``pieces`` whose chunk t + 1 is in
    the same piece, with the answer label of chunk t + 1 (what the head predicts, as in training and
    evaluation)."""
    g = corpus.grains
    stats = bundle.feature_stats
    assert stats is not None  # a listener always has them (load_model)
    model.eval()
    hidden, labels, queries, piece_of = [], [], [], []
    for p in pieces:
        rows = np.nonzero(g.piece == p)[0]
        if len(rows) < 2:
            continue
        f = torch.from_numpy(stats.source(g.source_feature[rows]))[None]
        h = model.hidden(f)[0]
        hidden.append(h[:-1])
        queries.append((model.query(h) + model.query_direct(f[0]))[:-1])
        labels.append(torch.from_numpy(g.label[rows[1:]].astype(np.int64)))
        piece_of.append(torch.full((len(rows) - 1,), int(p), dtype=torch.int64))
    if not hidden:
        return HeadData(torch.zeros((0, model.config.width)), torch.zeros(0, dtype=torch.int64), torch.zeros((0, model.config.key_dim)), torch.zeros(0, dtype=torch.int64))
    return HeadData(torch.cat(hidden), torch.cat(labels), torch.cat(queries), torch.cat(piece_of))


@torch.no_grad()
def head_accuracy(head: nn.Module, data: HeadData) -> float:
    head.eval()
    if len(data.label) == 0:
        return math.nan
    return float((head(data.hidden).argmax(-1) == data.label).float().mean())


@torch.no_grad()
def fit_grain_mix(model: ListenerModel, head: nn.Module, bundle: DecisionBundle, corpus: Corpus, fit: list[int], data: HeadData,
                  config: LabelHeadConfig) -> dict[str, Any]:
    """Validation accuracy of the label mix for every weight x temperature of ``config``, the memory
    being the grains of the ``fit`` pieces; the best (ties: the smaller weight, then temperature)
    and the head alone. ``data`` holds the validation steps."""
    head.eval()
    g, stats = corpus.grains, bundle.feature_stats
    assert stats is not None
    memory = np.isin(g.piece, fit)
    keys = grain_keys(model, stats, g, memory)
    onehot = label_onehot(g.label[memory], model.config.num_labels)
    log_head = F.log_softmax(head(data.hidden), dim=-1)
    alone = float((log_head.argmax(-1) == data.label).float().mean())
    grid: list[dict[str, float]] = []
    temperatures = sorted(config.grain_mix_temperatures)
    mass = {t: torch.zeros_like(log_head) for t in temperatures}
    for start in tqdm(range(0, len(data.label), 512), desc="label mix", unit="block", disable=None):
        scores = model.scores(data.query[start : start + 512], keys)
        for t in temperatures:
            mass[t][start : start + 512] = grain_label_log_mass(scores, t, onehot)
    for w in sorted(config.grain_mix_weights):
        for t in temperatures:
            accuracy = float(((log_head + w * mass[t]).argmax(-1) == data.label).float().mean())
            grid.append({"weight": w, "temperature": t, "val_accuracy": round(accuracy, 4)})
            log.info("label mix weight %g temperature %g: validation accuracy %.2f%% (head alone %.2f%%)", w, t, 100 * accuracy, 100 * alone)
    best = max(grid, key=lambda r: (r["val_accuracy"], -r["weight"], -r["temperature"]))
    kept = best["val_accuracy"] > round(alone, 4)
    return {"corpus": corpus.path.name, "fit_pieces": len(fit), "validation_pieces": int(len(set(data.piece.tolist()))),
            "weights_tried": list(config.grain_mix_weights), "temperatures_tried": list(config.grain_mix_temperatures),
            "memory_grains": int(memory.sum()), "val_accuracy_head_alone": round(alone, 4), "grid": grid,
            "weight": best["weight"] if kept else 0.0, "temperature": best["temperature"] if kept else 1.0,
            "val_accuracy": best["val_accuracy"] if kept else round(alone, 4), "kept": kept}


def fit_label_head(model_dir: Path, corpus: Corpus, config: LabelHeadConfig, command: str = "") -> dict[str, Any]:
    """Fit a new label head of ``config.hidden_width`` on the listener in ``model_dir`` over
    ``corpus``'s training pieces and keep the epoch of best validation accuracy; it replaces the
    model's head only if it beats it on those validation pieces (``replaced``; then ``label_head.png``
    is drawn). Then fit the label mix on the head kept (``fit_grain_mix``, unless the config has no
    weights). What changed is written into the model folder (weights, config.json's model section
    and training.label_head, returned as ``written``: the record of the head the model keeps, with
    this mix); if nothing did (``changed`` false), the folder is left as it was. Returns this run's
    figures."""
    bundle = load_model(Path(model_dir))
    if bundle.kind != "listener":
        raise AntiphonError(f"{bundle.path} is a {bundle.kind} model; fit-label-head refits a listener's label head")
    check_model_fits_corpus(bundle, corpus)
    training = bundle.meta.get("training", {})
    fit, validation, _ = split_pieces(corpus, float(training.get("validation_fraction", 0.1)), int(training.get("seed", 0)))
    model = bundle.model
    assert isinstance(model, ListenerModel)
    train_data = trunk_outputs(model, bundle, corpus, fit)
    val_data = trunk_outputs(model, bundle, corpus, validation)
    if len(train_data.label) == 0 or len(val_data.label) == 0:
        raise AntiphonError(f"corpus {corpus.path} has no chunk to fit or validate a label head on (too few pieces?)")
    before = head_accuracy(model.label_head, val_data)
    torch.manual_seed(config.seed)
    head = label_head(replace(bundle.config, label_hidden=config.hidden_width))
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    best_accuracy, best_epoch, best_state, bad = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    for epoch in tqdm(range(1, config.max_epochs + 1), desc="label head", unit="epoch", disable=None):
        head.train()
        order = torch.randperm(len(train_data.label), generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            loss = F.cross_entropy(head(train_data.hidden[rows]), train_data.label[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        accuracy = head_accuracy(head, val_data)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_accuracy": accuracy})
        log.info("label head epoch %d  train loss %.4f  val accuracy %.1f%%", epoch, np.mean(losses), 100 * accuracy)
        if accuracy > best_accuracy:
            best_accuracy, best_epoch, bad = accuracy, epoch, 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            bad += 1
            if bad >= config.patience_epochs:
                break
    assert best_state is not None
    replaced = best_accuracy > before
    record = {
        **asdict(config),
        "corpus": corpus.path.name,
        "fit_pieces": len(fit),
        "validation_pieces": len(validation),
        "fit_chunks": int(len(train_data.label)),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "val_accuracy_before": round(before, 4),
        "val_accuracy": round(best_accuracy, 4),
        "replaced": bool(replaced),
        "command": command,
    }
    if replaced:
        head.load_state_dict(best_state)
        line_panels(bundle.path / "label_head.png", [h["epoch"] for h in history], "epoch", [
            ("train cross-entropy (nats)", [("label head", [h["train_loss"] for h in history])]),
            (f"validation next-label accuracy (%), {corpus.path.name}", [("refitted head", [100 * h["val_accuracy"] for h in history]),
                                                                         ("head trained with the trunk", [100 * before] * len(history))]),
        ], marks=[(best_epoch, f"best epoch {best_epoch}")])
        log.info("label head of %s refitted on %s: validation accuracy %.1f%% -> %.1f%% (epoch %d)", bundle.path, corpus.path.name, 100 * before, 100 * best_accuracy, best_epoch)
    else:
        head = model.label_head
        log.warning("label head of %s: the refitted head (%.1f%%) does not beat the one it has (%.1f%%) on %s's validation pieces; "
                    "it keeps its head", bundle.path, 100 * best_accuracy, 100 * before, corpus.path.name)
    config_now = replace(bundle.config, label_hidden=config.hidden_width) if replaced else bundle.config
    mix = None
    if config.grain_mix_weights:
        mix = fit_grain_mix(model, head, bundle, corpus, fit, val_data, config)
        record["grain_mix"] = mix
        config_now = replace(config_now, label_grain_weight=mix["weight"], label_grain_temperature=mix["temperature"])
    else:  # no mix asked for: the head alone reports the label
        config_now = replace(config_now, label_grain_weight=0.0, label_grain_temperature=1.0)
    record["changed"] = bool(config_now != bundle.config or replaced)
    if not record["changed"]:
        return record
    new_model = ListenerModel(config_now)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("label_head.")}
    state.update({f"label_head.{k}": v for k, v in head.state_dict().items()})
    new_model.load_state_dict(state)
    written = dict(record)
    if not replaced and "label_head" in training:  # the head is the one fitted before: keep its record, with this mix (or none)
        written = {k: v for k, v in training["label_head"].items() if k not in ("grain_mix", "changed")}
        written.update({"mix_command": command, **({"grain_mix": mix} if mix else {})})
    rewrite_model(bundle, new_model, {**training, "label_head": written})
    record["written"] = written
    return record
