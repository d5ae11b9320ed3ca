"""Corrupt, foreign and tampered corpus files are refused with a one-line error naming the file."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.corpus.builder import CorpusBuildConfig, build_corpus
from agent.corpus.format import load_corpus
from agent.errors import AntiphonError
from agent.files import sha256_file


@pytest.fixture(scope="module")
def built(session_tone_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "tones"
    return build_corpus(session_tone_pairs, out, CorpusBuildConfig(source_stem="melody", target_stem="bass", codebook_size=16))


@pytest.fixture
def corpus_copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "copy"))


def _rehash(folder: Path, name: str) -> None:
    """Make the manifest agree with a replaced file, as a foreign tool would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _refused(folder: Path, pattern: str) -> str:
    with pytest.raises(AntiphonError, match=pattern) as info:
        load_corpus(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_intact_copy_loads(corpus_copy: Path) -> None:
    assert len(load_corpus(corpus_copy).grains) == 144


def test_missing_folder(tmp_path: Path) -> None:
    _refused(tmp_path / "nothing", "does not exist")


def test_truncated_grains(corpus_copy: Path) -> None:
    path = corpus_copy / "grains.npz"
    path.write_bytes(path.read_bytes()[:500])
    _refused(corpus_copy, r"grains.npz: checksum does not match manifest.json")


def test_truncated_grains_with_matching_hash(corpus_copy: Path) -> None:
    path = corpus_copy / "grains.npz"
    path.write_bytes(path.read_bytes()[:500])
    _rehash(corpus_copy, "grains.npz")
    _refused(corpus_copy, r"grains.npz: not a readable .npz file")


def test_pickled_grains_are_refused(corpus_copy: Path) -> None:
    with np.load(corpus_copy / "grains.npz") as npz:
        arrays = dict(npz)
    arrays["label"] = np.array([{"evil": 1}] * len(arrays["label"]), dtype=object)
    np.savez(corpus_copy / "grains.npz", **arrays)
    _rehash(corpus_copy, "grains.npz")
    _refused(corpus_copy, r"grains.npz: holds pickled objects")


def test_labels_out_of_range(corpus_copy: Path) -> None:
    with np.load(corpus_copy / "grains.npz") as npz:
        arrays = dict(npz)
    arrays["label"][3] = 99
    np.savez(corpus_copy / "grains.npz", **arrays)
    _rehash(corpus_copy, "grains.npz")
    _refused(corpus_copy, r"grains.npz: 'label' holds values outside 0..15")


def test_missing_grain_array(corpus_copy: Path) -> None:
    with np.load(corpus_copy / "grains.npz") as npz:
        arrays = {k: v for k, v in npz.items() if k != "feature"}
    np.savez(corpus_copy / "grains.npz", **arrays)
    _rehash(corpus_copy, "grains.npz")
    _refused(corpus_copy, r"grains.npz: missing arrays feature")


def test_codebook_of_wrong_shape(corpus_copy: Path) -> None:
    np.save(corpus_copy / "codebook.npy", np.zeros((16, 7), dtype=np.float32))
    _rehash(corpus_copy, "codebook.npy")
    _refused(corpus_copy, r"codebook.npy: centroids have dimension 7, features have 120")


def test_manifest_problems(corpus_copy: Path) -> None:
    manifest = corpus_copy / "manifest.json"
    original = manifest.read_text()
    manifest.write_text("{not json")
    _refused(corpus_copy, r"manifest.json: not valid JSON")
    manifest.write_text('{"format": "someone-elses-format"}')
    _refused(corpus_copy, r"manifest.json: not an Antiphon corpus manifest")
    manifest.write_text(original)
    _edit_manifest(corpus_copy, format_version=99)
    _refused(corpus_copy, r"manifest.json: corpus format version 99 is not supported")
    manifest.write_text(original)
    data = json.loads(original)
    del data["perception"]
    manifest.write_text(json.dumps(data))
    _refused(corpus_copy, r"manifest.json: missing keys perception")


def test_audio_missing_or_changed(corpus_copy: Path) -> None:
    audio = corpus_copy / "audio" / "piece1.flac"
    audio.write_bytes(audio.read_bytes()[:-100])
    _refused(corpus_copy, r"audio/piece1.flac: checksum does not match")
    audio.unlink()
    _refused(corpus_copy, r"audio/piece1.flac: missing")
    # without audio (corpus-info), the metadata still loads
    assert len(load_corpus(corpus_copy, with_audio=False).grains) == 144


def test_audio_path_escaping_the_folder(corpus_copy: Path) -> None:
    data = json.loads((corpus_copy / "manifest.json").read_text())
    data["pieces"][0]["audio"] = "../../etc/passwd"
    (corpus_copy / "manifest.json").write_text(json.dumps(data))
    _refused(corpus_copy, r"must stay inside the corpus folder")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("audio_rate_hz", "22050", "audio_rate_hz"),
    ("audio_rate_hz", 10, "audio_rate_hz"),
    ("chunking", {"mode": "uniform", "hop_s": "x"}, "chunking field 'hop_s'"),
    ("chunking", {"mode": 3}, "chunking field 'mode'"),
    ("chunking", {"mode": "uniform", "hop_s": 9.0}, "hop_s must be between"),
])
def test_manifest_rates_and_chunking_are_checked_in_one_line(corpus_copy: Path, key: str, value: object, message: str) -> None:
    data = json.loads((corpus_copy / "manifest.json").read_text())
    data[key] = value
    (corpus_copy / "manifest.json").write_text(json.dumps(data))
    _refused(corpus_copy, re.escape(message))
