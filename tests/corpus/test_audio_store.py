"""The playback store: corpus audio decoded once per rate into a mapped 16-bit file, shared, checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.audio_io import read_mono, resample
from agent.corpus import audio_store
from agent.corpus.audio_store import PCM_SCALE, playback_audio
from agent.corpus.format import load_corpus
from agent.errors import AntiphonError


@pytest.fixture()
def corpus_copy(tone_corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tone_corpus, tmp_path / "tones"))


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(audio_store, "_MAPPED", {})


def decoded(corpus) -> list[np.ndarray]:  # noqa: ANN001
    return [read_mono(corpus.path / p["audio"])[0] for p in corpus.manifest["pieces"]]


def test_at_the_corpus_rate_the_store_is_the_files_exactly(corpus_copy: Path) -> None:
    corpus = load_corpus(corpus_copy, with_audio=False)
    views = playback_audio(corpus, corpus.audio_rate_hz)
    assert all(isinstance(v, np.memmap) and v.dtype == np.int16 and not v.flags.writeable for v in views)
    for view, audio in zip(views, decoded(corpus)):
        np.testing.assert_array_equal(view / np.float32(PCM_SCALE), audio)
    assert playback_audio(corpus, corpus.audio_rate_hz) is views  # one mapping per process, shared by every agent


def test_another_rate_is_resampled_once_and_reused_by_a_new_process(corpus_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = load_corpus(corpus_copy, with_audio=False)
    views = playback_audio(corpus, 48_000)
    for view, audio in zip(views, decoded(corpus)):
        want = resample(audio, corpus.audio_rate_hz, 48_000)
        assert len(view) == len(want)
        assert np.max(np.abs(view / PCM_SCALE - want)) <= 1.0 / PCM_SCALE
    files = sorted((Path(os.environ["ANTIPHON_CACHE"]) / audio_store.STORE_DIR).iterdir())
    assert [f.suffix for f in files] == [".json", ".pcm16"]
    # a new process (no mapping yet) maps the file without decoding anything
    monkeypatch.setattr(audio_store, "_MAPPED", {})
    monkeypatch.setattr(audio_store, "read_piece_audio", lambda *_: pytest.fail("decoded again"))
    again = playback_audio(corpus, 48_000)
    assert again is not views and all(np.array_equal(a, b) for a, b in zip(again, views))


def test_a_file_changed_since_is_checked_again(corpus_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = load_corpus(corpus_copy, with_audio=False)
    playback_audio(corpus, 48_000)
    flac = corpus_copy / corpus.manifest["pieces"][1]["audio"]
    os.utime(flac, ns=(1, 1))  # touched, same content: hashed again, not decoded again
    monkeypatch.setattr(audio_store, "_MAPPED", {})
    with monkeypatch.context() as m:
        m.setattr(audio_store, "read_piece_audio", lambda *_: pytest.fail("decoded again"))
        playback_audio(corpus, 48_000)
    monkeypatch.setattr(audio_store, "_MAPPED", {})
    flac.write_bytes(flac.read_bytes()[:-100])
    with pytest.raises(AntiphonError, match="checksum does not match"):
        playback_audio(corpus, 48_000)
    flac.unlink()
    with pytest.raises(AntiphonError, match="missing"):
        playback_audio(corpus, 48_000)


def test_an_unwritable_cache_keeps_the_audio_in_memory(corpus_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("ANTIPHON_CACHE", str(blocker))
    corpus = load_corpus(corpus_copy, with_audio=False)
    views = playback_audio(corpus, 44_100)
    assert len(views) == len(corpus.manifest["pieces"]) and not isinstance(views[0], np.memmap)
