"""The listener: streaming equals batch, grain keys, soft targets, training, loading, listening.

The end-to-end test uses pairs whose answer *is* related to the performer (the bass plays each
melody note an octave and a fifth below, with the same timing): a listener trained on them must
answer its own performer more consonantly than other pieces' performers, and more than a
model that does not listen (random labels through the selector).
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
import soundfile as sf
import torch

from agent.decision.checkpoint import load_model, rewrite_model
from agent.decision.config import ListenerConfig
from agent.decision.listener import ListenerModel, grain_key_inputs, label_log_scores, label_onehot, soft_target_loss
from agent.errors import AntiphonError
from tests.conftest import note_train


def make_listener(seed: int = 0, **overrides) -> ListenerModel:
    torch.manual_seed(seed)
    fields = dict(feature_dim=12, num_labels=8, num_layers=2, width=32, num_heads=4, ffn_width=64, context_chunks=10, dropout=0.0, key_dim=16)
    fields.update(overrides)
    return ListenerModel(ListenerConfig(**fields)).eval()


@pytest.mark.parametrize("length", [4, 10, 33])  # shorter than, equal to and beyond the window
def test_stepping_equals_the_full_causal_pass(length: int) -> None:
    model = make_listener()
    x = torch.randn(2, length, 12, generator=torch.Generator().manual_seed(1))
    queries, logits = model(x)
    state = model.initial_state(2)
    for t in range(length):
        q, lg, state = model.step(state, x[:, t])
        torch.testing.assert_close(q, queries[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(lg, logits[:, t], atol=1e-5, rtol=1e-5)


def test_the_future_never_changes_the_past() -> None:
    model = make_listener()
    x = torch.randn(1, 20, 12)
    y = x.clone()
    y[:, 12:] = torch.randn(1, 8, 12)
    torch.testing.assert_close(model(x)[0][:, :12], model(y)[0][:, :12])
    assert not torch.allclose(model(x)[0][:, 12:], model(y)[0][:, 12:])


def test_grain_key_inputs_take_the_chunk_before_within_a_piece() -> None:
    answer = np.arange(5, dtype=np.float32)[:, None] + 100
    source = np.arange(5, dtype=np.float32)[:, None]
    piece = np.array([0, 0, 0, 1, 1])
    k = grain_key_inputs(answer, source, piece)
    np.testing.assert_array_equal(k[:, 0], [100, 101, 102, 103, 104])
    np.testing.assert_array_equal(k[:, 1], [0, 0, 1, 3, 3])  # a piece's first grain: its own context
    np.testing.assert_array_equal(k[:, 2], [0, 1, 2, 3, 4])


def test_soft_target_loss_by_hand() -> None:
    scores = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    loss = soft_target_loss(scores, torch.tensor([[0, 1], [2, 0]]), torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    expected = -(0.5 * np.log(0.5) + 0.5 * np.log(0.25) + np.log(0.8)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_the_label_mix_by_hand() -> None:
    """Head log-probabilities + weight x log of the softmax mass per label over the allowed grains."""
    head_only = ListenerConfig(num_labels=4)
    mixed = ListenerConfig(num_labels=4, label_grain_weight=1.0, label_grain_temperature=2.0)
    logits = torch.tensor([0.0, 0.0, 0.0, 0.1])  # the head alone says label 3
    scores = torch.tensor([0.0, 0.0, 0.0, 10.0, 0.0, 6.0])  # grains of labels 0 1 1 2 3 3
    onehot = label_onehot(np.array([0, 1, 1, 2, 3, 3]), 4)
    torch.testing.assert_close(label_log_scores(head_only, logits, scores, onehot), torch.log_softmax(logits, -1))
    assert int(label_log_scores(head_only, logits).argmax()) == 3  # the head alone needs no grain scores
    got = label_log_scores(mixed, logits, scores, onehot)
    weights = np.exp(np.array([0, 0, 0, 10, 0, 6]) / 2.0)
    mass = np.array([weights[0], weights[1] + weights[2], weights[3], weights[4] + weights[5]]) / weights.sum()
    np.testing.assert_allclose(got.numpy(), torch.log_softmax(logits, -1).numpy() + np.log(mass), rtol=1e-5)
    assert int(got.argmax()) == 2  # the grains outvote the head
    allowed = torch.tensor([True, True, True, False, True, True])  # the label-2 grain may not play
    got = label_log_scores(mixed, logits, scores, onehot, allowed)
    assert int(got.argmax()) == 3 and float(got[2]) == pytest.approx(float(torch.log_softmax(logits, -1)[2]) + np.log(1e-9), rel=1e-5)
    with pytest.raises(ValueError, match="needs the grain scores"):
        label_log_scores(mixed, logits)


def test_a_label_mix_with_no_grain_to_weigh_is_refused() -> None:
    """Every grain excluded: a mix would vote with NaN and report label 0; the decider refuses."""
    from types import SimpleNamespace

    from agent.decision.listener import FeatureStats
    from agent.decision.listener_decisions import ListenerDecider

    rng = np.random.default_rng(0)
    grains = SimpleNamespace(feature=rng.normal(size=(6, 12)), source_feature=rng.normal(size=(6, 12)), piece=np.array([0, 0, 0, 1, 1, 1]),
                             label=np.array([0, 1, 2, 3, 4, 5]))
    corpus = SimpleNamespace(grains=grains)
    stats = FeatureStats.fit(grains.source_feature, grains.feature)
    none = np.zeros(6, dtype=bool)
    ListenerDecider(make_listener(), stats, corpus, none)  # the head alone needs no grain
    with pytest.raises(AntiphonError, match="no grain this listener may play"):
        ListenerDecider(make_listener(label_grain_weight=1.0), stats, corpus, none)
    decider = ListenerDecider(make_listener(label_grain_weight=1.0), stats, corpus, ~none)
    assert 0 <= decider.next_label(grains.source_feature[0]) < 8


def test_bad_listener_configs_are_refused() -> None:
    with pytest.raises(AntiphonError, match="label_grain_temperature must be above 0"):
        ListenerConfig(label_grain_weight=1.0, label_grain_temperature=0.0)
    with pytest.raises(AntiphonError, match="label_grain_weight must be 0..100"):
        ListenerConfig(label_grain_weight=-1.0)
    with pytest.raises(AntiphonError, match="anticipation_chunks must be 1"):
        ListenerConfig(anticipation_chunks=0)
    with pytest.raises(AntiphonError, match="unknown decision-model field"):
        ListenerConfig.from_dict({"feature_dim": 8, "colour": 1})
    with pytest.raises(AntiphonError, match="must be an integer"):
        ListenerConfig.from_dict({"feature_dim": "eight"})


def test_sampled_candidates_keep_every_target_and_correct_the_sampled() -> None:
    import math

    from agent.decision.train_listener import sample_candidates

    rng = np.random.default_rng(0)
    targets = np.array([[5, 900], [5, 3]])
    everything, correction, same = sample_candidates(1000, targets, 0, rng)
    assert len(everything) == 1000 and not correction.any() and (same == targets).all()
    assert len(sample_candidates(1000, targets, 1000, rng)[0]) == 1000
    candidates, correction, remapped = sample_candidates(1000, targets, 50, rng)
    assert (np.diff(candidates) > 0).all() and 50 <= len(candidates) <= 53
    assert (candidates[remapped] == targets).all()  # the targets are among the candidates, at the remapped places
    forced = np.isin(candidates, [3, 5, 900])
    assert (correction[forced] == 0).all() and np.allclose(correction[~forced], math.log(1000 / 50))
    assert set(sample_candidates(1000, targets, 50, np.random.default_rng(1))[0]) != set(candidates)  # a new sample each draw


def test_nearest_other_work_is_exact_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.decision.train_listener import nearest_other_work

    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    answer = rng.normal(size=(60, 5)).astype(np.float32)
    work = np.repeat(np.arange(6), 10)
    memory = np.arange(10, 60)  # work 0 answers, is never answered with
    index, dist = nearest_other_work(answer, work, memory, 3, cache_key="k1")
    for n in range(60):  # brute force by hand
        d = ((answer[memory] - answer[n]) ** 2).sum(axis=1)
        d[work[memory] == work[n]] = np.inf
        assert list(index[n]) == list(np.argsort(d, kind="stable")[:3])
        assert np.allclose(dist[n], np.sort(d)[:3], rtol=1e-4)
    cached = tmp_path / "cache" / "listener-targets" / "k1.npz"
    assert cached.is_file()
    again, _ = nearest_other_work(answer * 0, work, memory, 3, cache_key="k1")  # read back, not recomputed
    assert (again == index).all()
    from types import SimpleNamespace

    from agent.decision.train_listener import _targets_key

    def corpus(audio_hash: str = "abc", hop_s: float = 0.1, starts: np.ndarray = np.arange(60) * 10, source_feature: float = 0.0):
        return SimpleNamespace(  # what the key reads of a corpus
            manifest={"perception": {"backend": "dsp"}, "chunking": {"hop_s": hop_s}, "pieces": [{"audio": "audio/a.flac"}],
                      "files": {"audio/a.flac": audio_hash}},
            grains=SimpleNamespace(start_sample=starts, end_sample=starts + 10, piece=np.zeros(60, dtype=np.int32),
                                   source_feature=np.full((60, 5), source_feature)))

    keys = {_targets_key(corpus(), memory, work, 3), _targets_key(corpus(), memory[1:], work, 3),
            _targets_key(corpus(), memory, work[::-1].copy(), 3), _targets_key(corpus(), memory, work, 4),
            _targets_key(corpus(audio_hash="abd"), memory, work, 3), _targets_key(corpus(hop_s=0.2), memory, work, 3),
            _targets_key(corpus(starts=np.arange(60) * 11), memory, work, 3)}
    assert len(keys) == 7  # any input that changes the targets changes the key
    assert _targets_key(corpus(source_feature=1.0), memory, work, 3) == _targets_key(corpus(), memory, work, 3)  # the performer side does not
    cached.write_bytes(b"not a zip")
    redone, _ = nearest_other_work(answer * 0 + np.arange(5, dtype=np.float32), work, memory, 3, cache_key="k1")  # unreadable: recomputed
    assert not (redone == index).all()


def test_split_and_targets_keep_the_renderings_of_a_work_together(tmp_path: Path) -> None:
    """Two renderings of one work (``a`` and ``a@v1``) never validate or target each other."""
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.corpus.format import load_corpus
    from agent.decision.listener import FeatureStats
    from agent.decision.train import split_pieces
    from agent.decision.train_listener import listener_data

    pairs = tmp_path / "pairs"
    for i, name in enumerate(["a", "a@v1", "b", "b@v1", "c", "c@v1", "d", "d@v1"]):
        rng = np.random.default_rng(ord(name[0]))  # the renderings of a work play the same notes,
        notes = list(rng.integers(64, 80, 8))
        (pairs / name).mkdir(parents=True)
        sf.write(pairs / name / "melody.flac", note_train(16_000, notes, 0.5, seed=i), 16_000)
        # with the same sound: a target search that let them see each other would pick the twin every time
        sf.write(pairs / name / "bass.flac", note_train(16_000, [n - 19 for n in notes], 0.5, seed=ord(name[0])), 16_000)
    (pairs / "split.json").write_text(json.dumps({"heldout": ["d"]}))  # lists one rendering: the build holds out both
    corpus = load_corpus(build_corpus(pairs, tmp_path / "corpus", CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16, seed=0)))
    names = corpus.piece_names
    assert list(corpus.piece_work) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [corpus.piece_split(i) for i in range(8)] == ["train"] * 6 + ["heldout"] * 2
    for seed in range(6):
        fit, validation, heldout = split_pieces(corpus, 0.3, seed)
        assert [names[i] for i in heldout] == ["d", "d@v1"]
        assert {names[i].split("@")[0] for i in fit}.isdisjoint({names[i].split("@")[0] for i in validation})
        assert len(validation) == 2  # one work, both renderings
    g = corpus.grains
    train = list(range(6))
    data = listener_data(corpus, train, FeatureStats.fit(g.source_feature, g.feature), k=4)
    target_work = corpus.piece_work[g.piece[data.memory[data.target_index]]]
    assert (target_work != data.work[:, None]).all()
    assert set(np.unique(g.piece[data.memory])) == set(train)
    # --label-weight scales the next-label cross-entropy only
    from agent.decision.train_listener import batch_loss

    model = make_listener(feature_dim=corpus.codebook.dim, num_labels=16)
    crops = [np.nonzero(g.piece == 0)[0][:12]]
    parts = {w: batch_loss(model, data, crops, 0.1, label_weight=w) for w in (0.0, 1.0, 3.0)}
    grain, label = parts[1.0][1], parts[1.0][2]
    assert label > 0 and all(p[1] == grain and p[2] == label for p in parts.values())
    for w, p in parts.items():
        assert float(p[0]) == pytest.approx(grain + w * label, rel=1e-5)
    # a corpus split by an older build (one rendering held out, its twin trained on) is refused
    manifest = json.loads((corpus.path / "manifest.json").read_text())
    manifest["pieces"][7]["split"] = "train"
    (corpus.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AntiphonError, match="work 'd' is held out in one rendering and trained on in another"):
        split_pieces(load_corpus(corpus.path, with_audio=False), 0.3, 0)


def test_a_trained_listener_loads_as_a_listener_and_refuses_bad_kinds(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, out = related
    bundle = load_model(out)
    assert bundle.kind == "listener" and isinstance(bundle.model, ListenerModel)
    history = json.loads((out / "checkpoint" / "state.json").read_text())["history"]
    assert history[-1]["grain_loss"] < history[0]["grain_loss"]  # it learned something
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    meta = json.loads((broken / "config.json").read_text())
    meta["kind"] = ["listener"]
    (broken / "config.json").write_text(json.dumps(meta))
    with pytest.raises(AntiphonError, match="unknown model kind"):
        load_model(broken)
    meta["kind"] = "listener"
    (broken / "config.json").write_text(json.dumps(meta))
    np.save(broken / "listener_stats.npy", np.ones((4, 120), np.float32))  # a foreign statistics file
    with pytest.raises(AntiphonError, match="listener_stats.npy: checksum"):
        load_model(broken)
    from agent.files import sha256_file

    for bad, why in ((np.ones((4, 60), np.float32), "shape"), (np.zeros((4, 120), np.float32), "zero std"), (np.ones((4, 120)), "float64")):
        np.save(broken / "listener_stats.npy", bad)
        meta["files"]["listener_stats.npy"] = sha256_file(broken / "listener_stats.npy")  # hash fits: the content checks must catch it
        (broken / "config.json").write_text(json.dumps(meta))
        with pytest.raises(AntiphonError, match="positive standard deviations"):
            load_model(broken)
    (broken / "listener_stats.npy").unlink()
    with pytest.raises(AntiphonError, match="listener_stats.npy"):
        load_model(broken)


def test_training_on_sampled_candidates_learns(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A large corpus trains on 4,096 sampled candidates a batch: here 32 of about 500 grains."""
    from agent.decision.config import TrainConfig
    from agent.decision.train_listener import train_listener

    _, corpus, _ = related
    config = ListenerConfig(feature_dim=120, num_labels=16, num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=8, dropout=0.0, key_dim=16)
    out = train_listener(corpus, tmp_path / "sampled", config, TrainConfig(max_epochs=6, batch_size=4, crop_chunks=32, warmup_steps=5, patience_epochs=6,
                                                                          learning_rate=3e-3, negatives=32), command="test")
    history = json.loads((out / "checkpoint" / "state.json").read_text())["history"]
    assert min(h["grain_loss"] for h in history[1:]) < history[0]["grain_loss"] - 0.1
    assert json.loads((out / "config.json").read_text())["training"]["negatives"] == 32
    with pytest.raises(AntiphonError, match="negatives must be 0"):
        TrainConfig(negatives=-1)
    with pytest.raises(AntiphonError, match="label_weight must be 0 or positive"):
        TrainConfig(label_weight=-1.0)
    assert json.loads((out / "config.json").read_text())["training"]["label_weight"] == 1.0  # recorded beside the weights


def test_the_trained_listener_listens(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pairs, corpus, out = related
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-q", "evaluate", "--model", str(out), "--pairs", str(pairs), "--source", "melody", "--target", "bass",
         "--corpus", str(corpus), "--out", str(report), "--update-card"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    listening = json.loads((report / "evaluation.json").read_text())["listening"]["answers"]
    model = listening["model (free-running)"]["consonance"]
    ignoring = listening["random labels (does not listen)"]["consonance"]
    ceiling = listening["true answer (ceiling)"]["consonance"]
    assert ceiling["gain"] > 0.3  # the pairs really are related
    assert model["gain"] > 0.15, listening
    assert model["gain"] > ignoring["gain"] + 0.1
    assert "## Listening (held-out audio)" in (out / "README.md").read_text()
    assert (report / "listening.png").stat().st_size > 10_000


def test_rehearsal_with_a_listener_reports_how_it_fits(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pairs, corpus, out = related
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-q", "rehearse", "--model", str(out), "--corpus", str(corpus), "--input", str(pairs / "song9" / "melody.flac"),
         "--out", str(tmp_path / "rehearsal"), "--temperature", "0", "--exclude-piece", "song9"],  # its own bass kept out
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    trace = json.loads((tmp_path / "rehearsal" / "trace.json").read_text())
    from agent.corpus.format import load_corpus

    loaded = load_corpus(corpus, with_audio=False)
    song9 = set(np.nonzero(loaded.grains.piece == loaded.piece_names.index("song9"))[0].tolist())
    fit = trace["listening"]["consonance"]
    assert fit["matched"] > fit["performer_shifted_half_take"]
    assert "listening: consonant share" in result.stdout
    assert all(row["grain"] not in song9 for row in trace["chunks"])
    refused = subprocess.run(
        [sys.executable, "-m", "agent", "rehearse", "--model", str(out), "--corpus", str(corpus), "--input", str(pairs / "song9" / "melody.flac"),
         "--out", str(tmp_path / "r2"), "--exclude-piece", "song99"], capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [f"error: corpus {corpus} has no piece 'song99' to exclude"]


def test_evaluate_without_listening_and_card_refusals(related: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pairs, corpus, out = related
    base = [sys.executable, "-m", "agent", "-q", "evaluate", "--model", str(out), "--pairs", str(pairs), "--source", "melody", "--target", "bass", "--corpus", str(corpus)]
    labels_only = subprocess.run([*base, "--out", str(tmp_path / "r"), "--no-listening"], capture_output=True, text=True, timeout=300)
    assert labels_only.returncode == 0, labels_only.stderr
    assert "listening" not in json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert "does it listen" not in labels_only.stdout and not (tmp_path / "r" / "listening.png").exists()
    full = subprocess.run([*base, "--out", str(tmp_path / "full")], capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    rows = [{(x["method"], x["mode"]): x for x in json.loads((tmp_path / f / "evaluation.json").read_text())["results"]} for f in ("r", "full")]
    assert rows[0].keys() == rows[1].keys()
    for key in rows[0]:  # labels only steps no grain choice, and predicts the very same labels
        assert rows[0][key]["per_piece_accuracy"] == rows[1][key]["per_piece_accuracy"], key
    assert rows[0][("model", "free-running")]["grain_run"] is None and rows[1][("model", "free-running")]["grain_run"] > 1.0
    # the same with a label mix: labels only scores the grains (the evaluated pieces' excluded) as the full pass does
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    bundle = load_model(mixed)
    mixed_model = ListenerModel(replace(bundle.config, label_grain_weight=4.0, label_grain_temperature=0.5))
    mixed_model.load_state_dict(bundle.model.state_dict())
    rewrite_model(bundle, mixed_model, bundle.meta["training"])
    base_mixed = [*base[:base.index("--model") + 1], str(mixed), *base[base.index("--model") + 2:]]
    for name, extra in (("mr", ["--no-listening"]), ("mfull", [])):
        run = subprocess.run([*base_mixed, "--out", str(tmp_path / name), *extra], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    mixed_rows = [{(x["method"], x["mode"]): x for x in json.loads((tmp_path / f / "evaluation.json").read_text())["results"]} for f in ("mr", "mfull")]
    model_row = ("model", "free-running")
    assert mixed_rows[0][model_row]["per_piece_accuracy"] == mixed_rows[1][model_row]["per_piece_accuracy"]
    assert mixed_rows[0][model_row]["per_piece_accuracy"] != rows[0][model_row]["per_piece_accuracy"]  # the mix did change labels
    for extra in (["--no-listening"], ["--all-pieces"]):
        refused = subprocess.run([*base, "--update-card", *extra], capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == ["error: --update-card writes the held-out figures into the card: it cannot go with --no-listening or --all-pieces"]
    card_before = (out / "README.md").read_text() if (out / "README.md").is_file() else ""  # other tests may have written it
    heard = subprocess.run([*base, "--out", str(tmp_path / "heard"), "--augment-performer", "3", "--update-card"], capture_output=True, text=True, timeout=300)
    assert heard.returncode == 0, heard.stderr
    report = json.loads((tmp_path / "heard" / "evaluation.json").read_text())
    assert report["performer_heard_through"]["seed"] == 3 and "noise_snr_db_min" in report["performer_heard_through"]["chain"]
    card = (out / "README.md").read_text()
    assert "## Heard through a room (held-out audio)" in card and "--augment-performer 3" in card
    assert card.startswith(card_before.rstrip())  # a section of its own: the clean figures are untouched
    assert "performer_heard_through" not in json.loads((tmp_path / "r" / "evaluation.json").read_text())
