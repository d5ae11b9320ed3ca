"""The listener: streaming equals batch, grain keys, soft targets, training, loading, listening.

The end-to-end test uses pairs whose answer *is* related to the performer (the bass plays each
melody note an octave and a fifth below, with the same timing): a listener trained on them must
answer its own performer more consonantly than other pieces' performers, and more than a
model that does not listen (random labels through the selector).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from agent.decision.checkpoint import load_model
from agent.decision.config import ListenerConfig
from agent.decision.listener import ListenerModel, grain_key_inputs, soft_target_loss
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


def test_bad_listener_configs_are_refused() -> None:
    with pytest.raises(AntiphonError, match="anticipation_chunks must be 1"):
        ListenerConfig(anticipation_chunks=0)
    with pytest.raises(AntiphonError, match="unknown decision-model field"):
        ListenerConfig.from_dict({"feature_dim": 8, "colour": 1})
    with pytest.raises(AntiphonError, match="must be an integer"):
        ListenerConfig.from_dict({"feature_dim": "eight"})


def write_related_pairs(root: Path, pieces: int = 10, seconds: float = 16.0) -> Path:
    """'melody' random notes of 0.75 s; 'bass' the same notes 19 semitones lower. Two held out."""
    names = []
    for i in range(pieces):
        rng = np.random.default_rng(300 + i)
        notes = list(rng.integers(64, 80, int(seconds / 0.75)))
        folder = root / f"song{i}"
        folder.mkdir(parents=True)
        sf.write(folder / "melody.flac", note_train(16_000, notes, 0.75, seed=i), 16_000)
        sf.write(folder / "bass.flac", note_train(16_000, [n - 19 for n in notes], 0.75, seed=50 + i), 16_000)
        names.append(folder.name)
    (root / "split.json").write_text(json.dumps({"heldout": names[-2:]}))
    return root


@pytest.fixture(scope="module")
def related(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(pairs, corpus, trained listener): DSP features (they carry chroma), K=16, hop 0.25 s."""
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.decision.config import TrainConfig
    from agent.decision.train_listener import train_listener

    base = tmp_path_factory.mktemp("related")
    pairs = write_related_pairs(base / "pairs")
    corpus = build_corpus(pairs, base / "corpus", CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16, seed=0))
    model_config = ListenerConfig(feature_dim=120, num_labels=16, num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=8, dropout=0.0, key_dim=16)
    out = train_listener(corpus, base / "listener", model_config, TrainConfig(max_epochs=25, batch_size=4, crop_chunks=32, warmup_steps=5, patience_epochs=25, learning_rate=3e-3), command="test")
    return pairs, corpus, out


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
    for extra in (["--no-listening"], ["--all-pieces"]):
        refused = subprocess.run([*base, "--update-card", *extra], capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == ["error: --update-card writes the held-out figures into the card: it cannot go with --no-listening or --all-pieces"]
