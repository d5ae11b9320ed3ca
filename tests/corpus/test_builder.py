import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.chunking import ChunkingConfig
from agent.corpus.builder import CorpusBuildConfig, build_corpus
from agent.corpus.format import load_corpus
from agent.errors import AntiphonError
from agent.perception import PerceptionConfig
from tests.test_cli import run


@pytest.fixture(scope="module")
def dsp_corpus(tone_corpus: Path) -> Path:
    return tone_corpus


def test_built_corpus_loads_and_is_consistent(dsp_corpus: Path) -> None:
    corpus = load_corpus(dsp_corpus)
    g = corpus.grains
    assert corpus.piece_names == ["piece0", "piece1", "piece2"]
    assert [corpus.piece_split(i) for i in range(3)] == ["train", "train", "heldout"]
    assert corpus.audio_rate_hz == 44_100  # the first piece's target rate
    hop = int(0.25 * 44_100)
    for index, audio in enumerate(corpus.audio):
        assert abs(len(audio) - 12 * 44_100) <= 2
        rows = corpus.piece_rows(index)
        assert len(rows) == 48  # 12 s / 0.25 s
        assert np.all(g.start_sample[rows][1:] == g.end_sample[rows][:-1])  # contiguous grains
        assert np.all(np.abs(g.end_sample[rows] - g.start_sample[rows] - hop) <= 1)
        src, tgt = corpus.sequences(index)
        assert len(src) == len(tgt) == 48
    assert g.feature.shape == (144, 120) and g.feature.dtype == np.float32
    assert 0 <= g.label.min() and g.label.max() < 16
    # labels are the codebook's labels of the stored features
    np.testing.assert_array_equal(corpus.codebook.labels(g.feature), g.label)
    assert len(np.unique(g.label)) >= 4 and len(np.unique(g.source_label)) >= 4
    assert corpus.manifest["perception"]["backend"] == "dsp"


def test_grain_audio_is_the_target_track(dsp_corpus: Path, session_tone_pairs: Path) -> None:
    from agent.audio_io import read_mono

    corpus = load_corpus(dsp_corpus)
    original, _ = read_mono(session_tone_pairs / "piece1" / "bass.flac", 44_100)
    stored = corpus.audio[1]
    n = min(len(original), len(stored))
    assert np.max(np.abs(original[:n] - stored[:n])) < 1e-3  # 16-bit FLAC rounding only


def test_onset_chunking_and_wav2vec2_backend(session_tone_pairs: Path, tiny_wav2vec2: Path, tmp_path: Path) -> None:
    config = CorpusBuildConfig(
        source_stem="melody",
        target_stem="bass",
        chunking=ChunkingConfig(mode="onset", min_segment_s=0.1, max_segment_s=1.0),
        perception=PerceptionConfig(backend="wav2vec2", checkpoint=str(tiny_wav2vec2)),
        codebook_size=16,
        audio_rate_hz=16_000,
    )
    corpus = load_corpus(build_corpus(session_tone_pairs, tmp_path / "c", config))
    assert corpus.manifest["perception"]["dim"] == 32
    assert len(corpus.manifest["perception"]["checkpoint_sha256"]) == 64
    assert corpus.audio_rate_hz == 16_000
    lengths = (corpus.grains.end_sample - corpus.grains.start_sample) / 16_000
    # melody notes are 0.5 s long: onset segments follow them
    assert abs(float(np.median(lengths)) - 0.5) < 0.03


def test_existing_output_needs_force_and_force_replaces_only_a_corpus(dsp_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    config = CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16)
    with pytest.raises(AntiphonError, match="already exists; pass --force"):
        build_corpus(session_tone_pairs, out, config)
    # --force on a folder that is not a corpus (no manifest, or another tool's manifest.json): refused, nothing deleted
    for manifest in (None, '{"format": "something-else"}'):
        if manifest is not None:
            (out / "manifest.json").write_text(manifest)
        with pytest.raises(AntiphonError, match=r"holds files but no corpus \(manifest.json of format antiphon-corpus\): --force replaces only a corpus folder") as info:
            build_corpus(session_tone_pairs, out, config, force=True)
        assert "\n" not in str(info.value)
        assert (out / "keep.txt").read_text() == "x"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(AntiphonError, match="is a file, not a corpus folder"):
        build_corpus(session_tone_pairs, a_file, config, force=True)
    assert a_file.read_text() == "x"
    # the command says the same in one line, and the foreign file survives it
    done = run("build-corpus", "--pairs", str(session_tone_pairs), "--source", "melody", "--target", "bass", "--out", str(out), "--force")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: {out} holds files but no corpus (manifest.json of format antiphon-corpus): --force replaces only a corpus folder (move or delete it yourself)"]
    assert (out / "keep.txt").read_text() == "x"
    # a corpus folder is replaced
    own = tmp_path / "own"
    shutil.copytree(dsp_corpus, own)
    (own / "stale.txt").write_text("old")
    build_corpus(session_tone_pairs, own, config, force=True)
    assert not (own / "stale.txt").exists() and load_corpus(own, with_audio=False).piece_names == ["piece0", "piece1", "piece2"]


def test_bad_inputs_change_nothing(tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    (tone_pairs / "piece1" / "bass.flac").unlink()
    config = CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16)
    with pytest.raises(AntiphonError, match="piece 'piece1'"):
        build_corpus(tone_pairs, out, config)
    assert not out.exists()
    with pytest.raises(AntiphonError, match="different stems"):
        CorpusBuildConfig(source_stem="bass", target_stem="bass")
    assert not out.exists()


def test_too_little_audio_for_the_codebook(tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    config = CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=1024)
    with pytest.raises(AntiphonError, match="need at least 2048 feature vectors to fit 1024 labels, got 192"):
        build_corpus(tone_pairs, out, config)
    assert not out.exists()


def test_reusing_a_codebook_gives_identical_files_and_labels(dsp_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    config = CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=32, codebook_from=str(dsp_corpus))
    build_corpus(session_tone_pairs, out, config)
    one, two = load_corpus(dsp_corpus, with_audio=False), load_corpus(out, with_audio=False)
    assert two.codebook.size == 16  # the reused codebook decides, not codebook_size
    assert one.manifest["files"]["codebook.npy"] == two.manifest["files"]["codebook.npy"]
    np.testing.assert_array_equal(one.grains.label, two.grains.label)
    assert two.manifest["codebook"]["fit_on"].startswith("reused from")
    with pytest.raises(AntiphonError, match="missing"):
        build_corpus(session_tone_pairs, tmp_path / "x", CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_from=str(tmp_path)))


def test_augmenting_the_source_changes_what_is_heard_not_what_is_played(dsp_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    base = dict(source_stem="melody", target_stem="bass", chunking=ChunkingConfig(mode="uniform", hop_s=0.25), codebook_from=str(dsp_corpus))
    clean = load_corpus(build_corpus(session_tone_pairs, tmp_path / "clean", CorpusBuildConfig(**base)), with_audio=False)
    heard = load_corpus(build_corpus(session_tone_pairs, tmp_path / "heard", CorpusBuildConfig(**base, augment_source_share=1.0)), with_audio=False)
    again = load_corpus(build_corpus(session_tone_pairs, tmp_path / "again", CorpusBuildConfig(**base, augment_source_share=1.0)), with_audio=False)
    np.testing.assert_array_equal(clean.grains.feature, heard.grains.feature)  # the answers as recorded
    np.testing.assert_array_equal(clean.grains.start_sample, heard.grains.start_sample)
    assert {k: v for k, v in clean.manifest["files"].items() if k.startswith("audio/")} == \
        {k: v for k, v in heard.manifest["files"].items() if k.startswith("audio/")}
    assert not np.allclose(clean.grains.source_feature, heard.grains.source_feature)  # the performer through a room
    np.testing.assert_array_equal(heard.grains.source_feature, again.grains.source_feature)  # seeded
    assert clean.manifest["augment_source"] is None
    assert heard.manifest["augment_source"]["share"] == 1.0 and "reverb_rt60_s_max" in heard.manifest["augment_source"]["chain"]
    with pytest.raises(AntiphonError, match="augment_source_share must be between 0 and 1"):
        CorpusBuildConfig(**base, augment_source_share=2.0)
