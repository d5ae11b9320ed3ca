"""Shared fixtures: small synthetic pairs folders and a tiny Wav2Vec2 saved to disk; the caches of
a session; the ``real_program`` mark (tests/real_programs.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.real_programs import require_program

os.environ["HF_HUB_OFFLINE"] = "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_program(program, package): the test drives this real program; "
                                       "skipped where it is missing, failed under CI=true")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("real_program"):
        require_program(*mark.args)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory):
    """ANTIPHON_CACHE (parsed chorales, the compiled audio callback) in a fresh folder of this session,
    for this process and the commands it runs: every run parses and compiles, as a fresh CI run does,
    and the user's own cache is never read or written."""
    folder = tmp_path_factory.mktemp("antiphon-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANTIPHON_CACHE", str(folder))
        yield folder


def note_train(rate_hz: int, midi: list[int], note_s: float, seed: int = 0, harmonics: int = 3) -> np.ndarray:
    """Consecutive notes with a sharp attack and exponential decay (onsets every ``note_s``)."""
    rng = np.random.default_rng(seed)
    n = int(round(note_s * rate_hz))
    t = np.arange(n) / rate_hz
    env = np.exp(-t * 4.0) * np.minimum(1.0, t / 0.004)
    out = []
    for m in midi:
        f = 440.0 * 2 ** ((m - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f * (h + 1) * t + rng.uniform(0, 6.28)) / (h + 1) for h in range(harmonics))
        out.append(0.3 * env * tone)
    return np.concatenate(out).astype(np.float32)


def write_tone_pairs(root: Path, pieces: int = 3, seconds: float = 12.0) -> Path:
    """A pairs folder: 'melody' (high notes) and 'bass' (low notes) per piece, at varied rates.

    Piece 0 is 44.1 kHz stereo WAV, the others 22.05 kHz mono FLAC; the last piece is held out.
    """
    names = []
    for i in range(pieces):
        name = f"piece{i}"
        names.append(name)
        rng = np.random.default_rng(100 + i)
        rate = 44_100 if i == 0 else 22_050
        note_s = 0.5
        count = int(seconds / note_s)
        melody = note_train(rate, list(rng.integers(67, 84, count)), note_s, seed=i)
        bass = note_train(rate, list(rng.integers(36, 52, count)), note_s * 2, seed=i + 50)[: len(melody)]
        bass = np.pad(bass, (0, len(melody) - len(bass)))
        folder = root / name
        folder.mkdir(parents=True)
        if i == 0:
            sf.write(folder / "melody.wav", np.stack([melody, 0.5 * melody], axis=1), rate)
            sf.write(folder / "bass.wav", np.stack([bass, bass], axis=1), rate)
        else:
            sf.write(folder / "melody.flac", melody, rate)
            sf.write(folder / "bass.flac", bass, rate)
    (root / "split.json").write_text('{"heldout": ["%s"]}' % names[-1])
    return root


@pytest.fixture
def tone_pairs(tmp_path: Path) -> Path:
    return write_tone_pairs(tmp_path / "pairs")


@pytest.fixture(scope="session")
def session_tone_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_pairs(tmp_path_factory.mktemp("pairs") / "pairs")


def tiny_wav2vec2_config():
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16, 16, 16, 16, 16),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        vocab_size=8,
        codevector_dim=16,
        proj_codevector_dim=16,
        num_codevectors_per_group=8,
    )


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Wav2Vec2Model saved with save_pretrained (safetensors)."""
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w2v2") / "tiny-wav2vec2"
    Wav2Vec2Model(tiny_wav2vec2_config()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tone_corpus(session_tone_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DSP corpus (melody -> bass, K=16, hop 0.25 s) of the session tone pairs: 2 training pieces, 1 held out."""
    from agent.corpus.builder import CorpusBuildConfig, build_corpus

    out = tmp_path_factory.mktemp("corpus") / "tones"
    return build_corpus(session_tone_pairs, out, CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16, seed=1))


@pytest.fixture(scope="session")
def trained(tone_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny decision model trained for 2 epochs on the tone corpus (a real model folder on disk)."""
    from agent.decision.config import DecisionConfig
    from agent.decision.train import TrainConfig, train
    from tests.decision.conftest import FAST, TINY

    out = tmp_path_factory.mktemp("models") / "tiny"
    train(tone_corpus, out, DecisionConfig(num_labels=16, **TINY), TrainConfig(max_epochs=2, **FAST), command="antiphon train ...")
    return out


@pytest.fixture(scope="session")
def tiny_loop_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(loop folder, autoencoder folder, diffusion folder): tiny loop generator models trained for real."""
    from tests.loops.tiny_loop_models import train_tiny_models

    return train_tiny_models(tmp_path_factory.mktemp("loop-models"))


@pytest.fixture(scope="session")
def tiny_kind_diffusion(tiny_loop_models: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(loop folder whose sidecars name two kinds, a tiny diffusion model conditioned on them), trained for real."""
    from tests.loops.tiny_loop_models import train_tiny_kind_diffusion

    loops, autoencoder, _ = tiny_loop_models
    return train_tiny_kind_diffusion(tmp_path_factory.mktemp("kind-models"), loops, autoencoder)
