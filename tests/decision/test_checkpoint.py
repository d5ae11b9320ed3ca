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


def set_field(meta: dict, dotted: str, value: object) -> None:
    """Set (or, for ``DELETE``, remove) ``meta["a"]["b"]`` from ``"a.b"``."""
    *parents, last = dotted.split(".")
    for key in parents:
        meta = meta[key]
    if value is DELETE:
        del meta[last]
    else:
        meta[last] = value


DELETE = object()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        # the three files: each killed the loader thread and gave tracebacks in rehearse and evaluate
        ("corpus.perception.layer", "zero", r"corpus\.perception\.layer"),
        ("corpus.perception", DELETE, r"corpus\.perception"),
        ("model.width", 4_000_000, r"width"),
        # every other field the program reads
        ("model.ffn_width", 10_000_000, r"ffn_width"),
        ("model.num_heads", 2.5, r"num_heads"),
        ("model.dropout", "high", r"dropout"),
        ("corpus", [], r"'corpus'"),
        ("corpus.name", 7, r"corpus\.name"),
        ("corpus.source_stem", ["melody"], r"corpus\.source_stem"),
        ("corpus.target_stem", DELETE, r"corpus\.target_stem"),
        ("corpus.sample_rate_hz", "16k", r"corpus\.sample_rate_hz"),
        ("corpus.chunking", DELETE, r"corpus\.chunking"),
        ("corpus.chunking.hop_s", "fast", r"corpus\.chunking\.hop_s"),
        ("corpus.chunking.hop_s", 30.0, r"corpus\.chunking.*hop_s"),
        ("corpus.chunking.mode", 1, r"corpus\.chunking\.mode"),
        ("corpus.chunking.sample_rate_hz", True, r"corpus\.chunking\.sample_rate_hz"),
        ("corpus.perception.backend", "magic", r"corpus\.perception.*backend"),
        ("corpus.perception.dim", 10**9, r"corpus\.perception\.dim"),
        ("corpus.perception.dim", "many", r"corpus\.perception\.dim"),
        ("corpus.perception.checkpoint", 5, r"corpus\.perception\.checkpoint"),
        ("corpus.perception.layer", 10**6, r"corpus\.perception\.layer"),
        ("corpus.perception.checkpoint_sha256", 1, r"corpus\.perception\.checkpoint_sha256"),
        ("corpus.codebook_size", "16", r"corpus\.codebook_size"),
        ("corpus.codebook_sha256", None, r"corpus\.codebook_sha256"),
        ("training", [1], r"'training'"),
        ("training.batch_size", "big", r"training\.batch_size"),
        ("training.learning_rate", -1.0, r"training.*learning_rate"),
        ("training.fit_pieces", "piece0", r"training\.fit_pieces"),
        ("training.default_corpus", 3, r"training\.default_corpus"),
    ],
)
def test_every_config_field_is_checked_in_one_line(trained: Path, tmp_path: Path, field: str, value: object, match: str) -> None:
    m = copy_of(trained, tmp_path)
    meta = json.loads((m / "config.json").read_text())
    set_field(meta, field, value)
    (m / "config.json").write_text(json.dumps(meta))
    expect_refusal(m, rf"^{m / 'config.json'}: .*{match}")


def test_a_hub_id_in_a_model_config_is_refused_without_the_network(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import transformers

    from agent.model_loader import model_perception

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried the network")

    def no_transformers(*args: object, **kwargs: object) -> None:
        raise AssertionError("transformers was asked to load a hub id")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # as on a user's machine
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(transformers.Wav2Vec2Model, "from_pretrained", no_transformers)
    m = copy_of(trained, tmp_path)
    meta = json.loads((m / "config.json").read_text())
    meta["corpus"]["perception"] = {"backend": "wav2vec2", "checkpoint": "facebook/wav2vec2-base", "layer": 0, "dim": 768, "checkpoint_sha256": "0" * 64}
    (m / "config.json").write_text(json.dumps(meta))
    with pytest.raises(AntiphonError, match="^cannot load Wav2Vec2 checkpoint 'facebook/wav2vec2-base': not a local folder"):
        model_perception(load_model(m))


def test_a_local_checkpoint_is_loaded_with_local_files_only(tiny_wav2vec2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Architectures the plain-torch encoder runs never reach transformers; the others are loaded by
    transformers from the local folder only."""
    import shutil

    import transformers

    from agent.perception.wav2vec2 import Wav2Vec2Perception

    real = transformers.Wav2Vec2Model.from_pretrained.__func__
    calls: list[dict] = []

    def spy(cls, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(kwargs)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.Wav2Vec2Model, "from_pretrained", classmethod(spy))
    assert Wav2Vec2Perception.load(str(tiny_wav2vec2), layer=1).dim == 32
    assert calls == []  # the plain-torch encoder
    other = Path(shutil.copytree(tiny_wav2vec2, tmp_path / "relu"))
    config = json.loads((other / "config.json").read_text())
    config["feat_extract_activation"] = "relu"  # not run by the plain-torch encoder: transformers loads it
    (other / "config.json").write_text(json.dumps(config))
    assert Wav2Vec2Perception.load(str(other), layer=1).dim == 32
    assert calls and all(c.get("local_files_only") is True and c.get("use_safetensors") is True for c in calls), calls


def test_a_model_too_large_to_load_is_refused_before_anything_is_allocated(trained: Path, tmp_path: Path) -> None:
    m = copy_of(trained, tmp_path)
    meta = json.loads((m / "config.json").read_text())
    meta["model"].update(num_layers=24, width=4096, num_heads=32, ffn_width=16384)  # each field within bounds: 4.8 G weights together
    (m / "config.json").write_text(json.dumps(meta))
    expect_refusal(m, rf"^{m / 'config.json'}: 'model': decision config: about 4,832,.* weights .* at most 50,000,000")


def test_a_huge_perception_architecture_is_refused_before_transformers_builds_it(tiny_wav2vec2: Path, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from agent.perception.wav2vec2 import Wav2Vec2Perception

    def no_transformers(*args: object, **kwargs: object) -> None:
        raise AssertionError("transformers was asked to build it")

    folder = tmp_path / "w2v2"
    shutil.copytree(tiny_wav2vec2, folder)
    config = json.loads((folder / "config.json").read_text())
    config["hidden_size"] = 4_000_000
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(transformers.Wav2Vec2Model, "from_pretrained", no_transformers)
    with pytest.raises(AntiphonError, match=r"config.json: 'hidden_size' must be an integer in 1..2048, got 4000000$"):
        Wav2Vec2Perception.load(str(folder), layer=0)
