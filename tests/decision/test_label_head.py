"""`antiphon fit-label-head`: a new label head on a frozen listener trunk.

On the related pairs (the bass is the melody 19 semitones down) the next bass label is
predictable from what the listener heard; the refitted head must learn it, the grain queries
must not move by a bit, the folder must load again with its new config, the label mix with the
grain scores is chosen on validation and recorded as it scores, and bad requests are refused in
one line without touching the model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.corpus.format import load_corpus
from agent.decision.checkpoint import load_model, rewrite_model
from agent.decision.config import LabelHeadConfig
from agent.decision.label_head import fit_label_head, head_accuracy, trunk_outputs
from agent.decision.listener import ListenerModel, grain_key_inputs, label_log_scores, label_onehot
from agent.decision.listener_decisions import ListenerDecider
from agent.decision.model_card import label_head_card_text
from agent.decision.train import split_pieces
from agent.errors import AntiphonError


def _queries(model_dir: Path, features: np.ndarray) -> torch.Tensor:
    bundle = load_model(model_dir)
    with torch.inference_mode():
        return bundle.model(torch.from_numpy(bundle.feature_stats.source(features))[None])[0]


def _untrained_head_copy(listener: Path, to: Path) -> Path:
    """A copy of the listener whose label head is freshly initialised (a real model folder)."""
    shutil.copytree(listener, to)
    bundle = load_model(to)
    torch.manual_seed(5)
    bundle.model.label_head.reset_parameters()
    rewrite_model(bundle, bundle.model, bundle.meta["training"])
    return to


def test_the_refitted_head_learns_the_next_label_and_leaves_the_grain_choice_alone(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pairs, corpus_dir, trained = related
    model = _untrained_head_copy(trained, tmp_path / "listener")
    corpus = load_corpus(corpus_dir, with_audio=False)
    features = corpus.grains.source_feature[corpus.grains.piece == 0]
    before = _queries(model, features)
    record = fit_label_head(model, corpus, LabelHeadConfig(hidden_width=48, max_epochs=30, patience_epochs=30, batch_size=64, learning_rate=3e-3))
    after = _queries(model, features)
    assert torch.equal(before, after)  # the trunk, query and keys are untouched
    assert record["replaced"] and record["val_accuracy"] > record["val_accuracy_before"]
    bundle = load_model(model)  # hashes and tensor shapes check out with the new config
    assert bundle.config.label_hidden == 48
    assert isinstance(bundle.model.label_head, torch.nn.Sequential)
    meta = json.loads((model / "config.json").read_text())
    assert meta["training"]["label_head"]["val_accuracy"] == record["val_accuracy"]
    assert meta["corpus"] == json.loads((trained / "config.json").read_text())["corpus"]  # still the corpus it was trained on
    assert meta["model"]["label_hidden"] == 48
    # the recorded figure is what the saved head scores on the validation pieces, and it learned the relation
    _, validation, _ = split_pieces(corpus, 0.1, 0)
    data = trunk_outputs(bundle.model, bundle, corpus, validation)
    assert head_accuracy(bundle.model.label_head, data) == pytest.approx(record["val_accuracy"], abs=1e-4)
    chance = np.bincount(corpus.grains.label, minlength=16).max() / len(corpus.grains.label)
    assert record["val_accuracy"] > chance + 0.1, (record, chance)
    # stepping (as live) and the whole pass still agree with the MLP head
    state = bundle.model.initial_state(1)
    stats = bundle.feature_stats
    with torch.inference_mode():
        _, logits = bundle.model(torch.from_numpy(stats.source(features[:5]))[None])
        for t in range(5):
            _, step_logits, state = bundle.model.step(state, stats.source(features[t]))
            assert torch.allclose(step_logits[0], logits[0, t], atol=1e-5)
    assert (model / "label_head.png").stat().st_size > 10_000


def test_fit_label_head_cli_writes_the_card_and_refuses_bad_requests(related: tuple[Path, Path, Path], tmp_path: Path, trained: Path) -> None:
    pairs, corpus_dir, listener = related
    model = _untrained_head_copy(listener, tmp_path / "listener")
    run = [sys.executable, "-m", "agent", "-q", "fit-label-head", "--model", str(model), "--corpus", str(corpus_dir), "--hidden-width", "32", "--max-epochs", "3"]
    result = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "## Label head" in (model / "README.md").read_text()
    assert "validation accuracy" in result.stdout
    weights = (model / "model.safetensors").read_bytes()
    for args, message in (
        (["--model", str(trained), "--corpus", str(corpus_dir)], "refits a listener's label head"),  # a label model
        (["--model", str(model), "--corpus", str(tmp_path / "nowhere")], "nowhere"),
        (["--model", str(model), "--corpus", str(corpus_dir), "--hidden-width", "0"], "hidden_width must be 1..4096"),
    ):
        bad = subprocess.run([sys.executable, "-m", "agent", "-q", "fit-label-head", *args], capture_output=True, text=True, timeout=300)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert (model / "model.safetensors").read_bytes() == weights  # nothing changed
    _with_mix(model, 2.0, 3.0)  # a model with a mix, then --no-label-mix: the head alone again
    off = subprocess.run([*run[:-4], "--hidden-width", "1", "--max-epochs", "1", "--no-label-mix"], capture_output=True, text=True, timeout=300)
    assert off.returncode == 0, off.stderr
    bundle = load_model(model)
    assert (bundle.config.label_grain_weight, bundle.config.label_grain_temperature) == (0.0, 1.0)
    assert "grain_mix" not in bundle.meta["training"]["label_head"] and "**Label mix.**" not in (model / "README.md").read_text()


def test_a_head_that_is_not_better_leaves_the_model_as_it_was(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A one-unit MLP cannot tell 16 labels apart as well as the head trained with the trunk."""
    _, corpus_dir, listener = related
    model = tmp_path / "listener"
    shutil.copytree(listener, model)
    files = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    record = fit_label_head(model, load_corpus(corpus_dir, with_audio=False), LabelHeadConfig(hidden_width=1, max_epochs=2, patience_epochs=2, grain_mix_weights=()))
    assert not record["replaced"] and not record["changed"] and record["val_accuracy"] <= record["val_accuracy_before"]
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file() and p.name in files} == files
    assert not (model / "label_head.png").exists()  # nothing written


def test_a_corpus_with_another_codebook_is_refused(related: tuple[Path, Path, Path], tone_corpus: Path, tmp_path: Path) -> None:
    _, _, listener = related
    model = tmp_path / "listener"
    shutil.copytree(listener, model)
    with pytest.raises(AntiphonError, match="predicts 16 labels|another codebook"):
        fit_label_head(model, load_corpus(tone_corpus, with_audio=False), LabelHeadConfig(max_epochs=1))


def _with_mix(model_dir: Path, weight: float, temperature: float = 1.0) -> None:
    """Rewrite a model folder's label mix (the weights stay)."""
    bundle = load_model(model_dir)
    mixed = ListenerModel(replace(bundle.config, label_grain_weight=weight, label_grain_temperature=temperature))
    mixed.load_state_dict(bundle.model.state_dict())
    rewrite_model(bundle, mixed, bundle.meta["training"])


def test_the_label_mix_is_chosen_on_validation_and_scores_as_recorded(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Every tried weight x temperature scores on validation what ``label_log_scores`` scores with
    the fit pieces' grains as the memory; the best is kept only if it beats the head alone; the
    live decider, stepping a piece chunk by chunk, reports the same labels as the batched fit; the
    grain queries do not move."""
    _, corpus_dir, listener = related
    model = tmp_path / "listener"
    shutil.copytree(listener, model)
    corpus = load_corpus(corpus_dir, with_audio=False)
    features = corpus.grains.source_feature[corpus.grains.piece == 0]
    before = _queries(model, features)
    config = LabelHeadConfig(hidden_width=1, max_epochs=1, patience_epochs=1, grain_mix_weights=(0.5, 4.0), grain_mix_temperatures=(0.5, 2.0))
    record = fit_label_head(model, corpus, config)
    assert not record["replaced"]  # a one-unit head: the mix is fitted on the head the model has
    mix = record["grain_mix"]
    assert [(g["weight"], g["temperature"]) for g in mix["grid"]] == [(0.5, 0.5), (0.5, 2.0), (4.0, 0.5), (4.0, 2.0)]
    assert mix["kept"] == (max(g["val_accuracy"] for g in mix["grid"]) > mix["val_accuracy_head_alone"])
    bundle = load_model(model)
    c = bundle.config
    assert (c.label_grain_weight, c.label_grain_temperature) == ((mix["weight"], mix["temperature"]) if mix["kept"] else (0.0, 1.0))
    assert torch.equal(before, _queries(model, features))
    fit, validation, _ = split_pieces(corpus, 0.1, 0)
    g, stats = corpus.grains, bundle.feature_stats
    memory = np.isin(g.piece, fit)
    data = trunk_outputs(bundle.model, bundle, corpus, validation)
    with torch.inference_mode():
        keys = bundle.model.keys(torch.from_numpy(grain_key_inputs(stats.answer(g.feature), stats.source(g.source_feature), g.piece)))
        scores = bundle.model.scores(data.query, keys)
        logits = bundle.model.label_head(data.hidden)
        onehot, allowed = label_onehot(g.label, c.num_labels), torch.from_numpy(memory)
        assert float((logits.argmax(-1) == data.label).float().mean()) == pytest.approx(mix["val_accuracy_head_alone"], abs=1e-4)
        for tried in mix["grid"]:
            mixed = label_log_scores(replace(c, label_grain_weight=tried["weight"], label_grain_temperature=tried["temperature"]), logits, scores, onehot, allowed)
            assert float((mixed.argmax(-1) == data.label).float().mean()) == pytest.approx(tried["val_accuracy"], abs=1e-4), tried
        # live: the decider over the same memory steps the first validation piece to the batched labels
        strong = replace(c, label_grain_weight=4.0, label_grain_temperature=0.5)
        batched = label_log_scores(strong, logits, scores, onehot, allowed).argmax(-1)
    live_model = ListenerModel(strong)
    live_model.load_state_dict(bundle.model.state_dict())
    decider = ListenerDecider(live_model, stats, corpus, memory)
    first = int(data.piece[0])
    rows = np.nonzero(g.piece == first)[0]
    stepped = [decider.next_label(f) for f in g.source_feature[rows[:-1]]]
    assert stepped == batched[data.piece == first].tolist()
    if mix["kept"]:
        meta = json.loads((model / "config.json").read_text())
        assert meta["training"]["label_head"]["grain_mix"]["grid"] == mix["grid"] and meta["model"]["label_grain_weight"] == c.label_grain_weight


def test_a_second_fit_keeps_the_head_and_its_record_with_the_new_mix(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Refitted once (head replaced), then, with a mix outside the grid set by hand, again with a
    head that cannot beat it: the model keeps the first head and its record, the second run's mix
    (or none) beside it, and the card names both commands."""
    _, corpus_dir, trained = related
    model = _untrained_head_copy(trained, tmp_path / "listener")
    corpus = load_corpus(corpus_dir, with_audio=False)
    first = fit_label_head(model, corpus, LabelHeadConfig(hidden_width=48, max_epochs=30, patience_epochs=30, batch_size=64, learning_rate=3e-3),
                           command="antiphon fit-label-head --model first")
    assert first["replaced"] and first["changed"] and first["written"]["command"] == "antiphon fit-label-head --model first"
    head_before = {k: v.clone() for k, v in load_model(model).model.label_head.state_dict().items()}
    _with_mix(model, 50.0)  # not in the second grid: the second fit must change it
    second = fit_label_head(model, corpus, LabelHeadConfig(hidden_width=1, max_epochs=1, patience_epochs=1, grain_mix_weights=(0.5, 4.0), grain_mix_temperatures=(0.5, 2.0)),
                            command="antiphon fit-label-head --model second")
    assert not second["replaced"] and second["changed"]
    bundle = load_model(model)
    assert bundle.config.label_hidden == 48 and bundle.config.label_grain_weight in (0.0, 0.5, 4.0)
    assert all(torch.equal(v, head_before[k]) for k, v in bundle.model.label_head.state_dict().items())
    written = bundle.meta["training"]["label_head"]
    mix = second["grain_mix"]
    assert written == second["written"]
    assert written["val_accuracy"] == first["val_accuracy"] and written["hidden_width"] == 48 and written["grain_mix"] == mix
    assert mix["corpus"] == corpus_dir.name and mix["fit_pieces"] == first["fit_pieces"]
    card = label_head_card_text(written)
    assert "antiphon fit-label-head --model first" in card and "antiphon fit-label-head --model second" in card
    assert ("Kept: weight" in card) == mix["kept"] and f"{100 * mix['val_accuracy_head_alone']:.2f} %" in card
