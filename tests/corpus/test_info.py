from pathlib import Path

import numpy as np
import pytest

from agent.corpus.builder import CorpusBuildConfig, build_corpus
from agent.corpus.format import load_corpus
from agent.corpus.info import entropy_bits, format_summary, plot_corpus, summarize


@pytest.fixture(scope="module")
def corpus(session_tone_pairs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("corpus") / "tones"
    build_corpus(session_tone_pairs, out, CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16))
    return load_corpus(out, with_audio=False)


def test_summary_counts(corpus) -> None:
    s = summarize(corpus)
    assert (s.pieces, s.heldout_pieces, s.grains, s.codebook_size) == (3, 1, 144, 16)
    assert abs(s.duration_s - 36.0) < 0.01
    assert abs(s.mean_grain_s - 0.25) < 0.001
    assert 0 < s.target_entropy_bits <= 4.0
    text = format_summary(corpus, s)
    assert "melody (performer) -> bass (answer)" in text and "K=16" in text


def test_entropy() -> None:
    assert entropy_bits(np.arange(16), 16) == pytest.approx(4.0)
    assert entropy_bits(np.zeros(10, dtype=int), 16) == pytest.approx(0.0)


def test_plot_is_a_png(corpus, tmp_path: Path) -> None:
    png = plot_corpus(corpus, tmp_path / "sub" / "info.png", piece=1)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
