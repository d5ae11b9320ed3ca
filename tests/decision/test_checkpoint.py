"""Model folders: corrupt, truncated, foreign or mismatched files are refused in one line; no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from agent.corpus.format import load_corpus
from agent.decision.checkpoint import check_model_fits_corpus, load_model
from agent.errors import AntiphonError
from agent.files import sha256_file

# a pickled dict {"x": 1}: what a hostile or legacy torch file starts like
PICKLE_BYTES = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01x\x94K\x01s."


def copy_of(trained: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "m"
    shutil.copytree(trained, dst)
    return dst


def rehash(folder: Path, name: str) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta["files"][name] = sha256_file(folder / name)
    (folder / "config.json").write_text(json.dumps(meta))


def expect_refusal(folder: Path, match: str) -> None:
    with pytest.raises(AntiphonError, match=match) as info:
        load_model(folder)
    assert "\n" not in str(info.value)


def test_truncated_weights_are_refused(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    data = (m / "model.safetensors").read_bytes()
    (m / "model.safetensors").write_bytes(data[: len(data) // 2])
    expect_refusal(m, "checksum does not match")
    rehash(m, "model.safetensors")  # even with a matching hash, the file itself is checked
    expect_refusal(m, "not a readable safetensors file")


def test_foreign_safetensors_are_refused(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(m / "model.safetensors"))
    rehash(m, "model.safetensors")
    expect_refusal(m, "tensors do not fit this decision model")


def test_wrong_shapes_are_refused(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    meta = json.loads((m / "config.json").read_text())
    meta["model"]["width"] = 64
    meta["model"]["ffn_width"] = 128
    (m / "config.json").write_text(json.dumps(meta))
    expect_refusal(m, "tensor .* the config needs")


def test_pickle_is_never_loaded(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    (m / "model.safetensors").write_bytes(PICKLE_BYTES)
    rehash(m, "model.safetensors")
    expect_refusal(m, "not a readable safetensors file")


def test_foreign_config_is_refused(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    (m / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    expect_refusal(m, "not an Antiphon decision model")
    (m / "config.json").write_text("{not json")
    expect_refusal(m, "not valid JSON")
    expect_refusal(tmp_path / "nowhere", "does not exist")


def test_model_and_corpus_must_share_the_codebook(trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    bundle = load_model(trained)
    check_model_fits_corpus(bundle, load_corpus(tone_corpus, with_audio=False))
    other = tmp_path / "other"
    shutil.copytree(tone_corpus, other)
    from agent.codebook import Codebook

    cb = Codebook.load(other)
    Codebook(cb.centroids[::-1].copy(), cb.mean, cb.std).save(other)
    manifest = json.loads((other / "manifest.json").read_text())
    for name in ("codebook.npy", "codebook_stats.npy"):
        manifest["files"][name] = sha256_file(other / name)
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AntiphonError, match="another codebook"):
        check_model_fits_corpus(bundle, load_corpus(other, with_audio=False))


def test_the_default_corpus_is_a_plain_name_under_corpora(trained: Path, tmp_path: Path) -> None:
    from agent import paths

    m = copy_of(trained, tmp_path)
    meta = json.loads((m / "config.json").read_text())
    assert load_model(m).default_corpus_dir == paths.CORPORA_DIR / meta["corpus"]["name"]
    meta["training"]["default_corpus"] = "demo"  # trained on a large corpus, plays the demo's by default
    (m / "config.json").write_text(json.dumps(meta))
    assert load_model(m).default_corpus_dir == paths.CORPORA_DIR / "demo"
    for hostile in ("../../../../etc", "/etc", "a/b", ".."):
        meta["training"]["default_corpus"] = ""
        meta["corpus"]["name"] = hostile
        (m / "config.json").write_text(json.dumps(meta))
        with pytest.raises(AntiphonError, match="not a plain folder name"):
            load_model(m).default_corpus_dir
        meta["corpus"]["name"] = "demo"
        meta["training"]["default_corpus"] = hostile
        (m / "config.json").write_text(json.dumps(meta))
        with pytest.raises(AntiphonError, match="not a plain folder name"):
            load_model(m).default_corpus_dir
    from agent.decision.config import TrainConfig

    with pytest.raises(AntiphonError, match="default_corpus must be one folder name"):
        TrainConfig(default_corpus="../x")
