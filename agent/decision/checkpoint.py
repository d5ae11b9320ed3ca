"""Decision-model folders: save and validated load. No pickle: safetensors, ``.npy`` and JSON.

    models/NAME/
      config.json           format + version, the kind ("labels": DecisionConfig, or "listener":
                            ListenerConfig) and its config ("model"), what corpus it was
                            trained on (stems, chunking, perception, codebook hash), training
                            settings and results, SHA-256 of every file below
      model.safetensors     weights
      codebook.npy, codebook_stats.npy   the codebook its labels mean (copied from the corpus)
      listener_stats.npy    listeners only: per-track feature mean/std (float32 [4, D])
      README.md, loss.png   model card and loss curves (written by training)
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from agent import __version__, paths
from agent.chunking import ChunkingConfig
from agent.codebook import CODEBOOK_FILE, STATS_FILE, Codebook
from agent.decision.config import MODEL_FORMAT, MODEL_FORMAT_VERSION, READABLE_MODEL_FORMAT_VERSIONS, DecisionConfig, ListenerConfig, TrainConfig
from agent.decision.listener import STATS_FILE as LISTENER_STATS_FILE
from agent.decision.listener import FeatureStats, ListenerModel
from agent.decision.model import DecisionModel
from agent.errors import AntiphonError
from agent.files import read_json_object, sha256_file, verify_sha256, write_json
from agent.perception import BACKENDS, PerceptionConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# kind -> (config class, model class): "labels" maps label sequences, "listener" scores grains from features
MODEL_KINDS: dict[str, tuple[Any, Any]] = {"labels": (DecisionConfig, DecisionModel), "listener": (ListenerConfig, ListenerModel)}
# bounds of what config.json may say of the corpus a model was trained on (far beyond any real one)
RATE_RANGE_HZ = (1_000, 384_000)
MAX_FEATURE_DIM = 8192
MAX_HIDDEN_STATE = 64  # |perception.layer|
MAX_TEXT_CHARS = 1024
PIECE_LISTS = ("fit_pieces", "validation_pieces", "heldout_pieces")


@dataclass(frozen=True)
class DecisionBundle:
    """A loaded decision model with the codebook and corpus facts it depends on."""

    path: Path
    config: DecisionConfig | ListenerConfig
    model: DecisionModel | ListenerModel
    codebook: Codebook
    meta: dict[str, Any]
    feature_stats: FeatureStats | None = None  # listeners: how their inputs are standardised

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", "labels"))

    @property
    def corpus_meta(self) -> dict[str, Any]:
        return self.meta["corpus"]

    @property
    def default_corpus_dir(self) -> Path:
        """The corpus it plays by default: corpora/<training.default_corpus>, else corpora/<the name of
        the corpus it was trained on> (a plain folder name, or a one-line error)."""
        training = self.meta.get("training")
        chosen = training.get("default_corpus") if isinstance(training, dict) else None
        return paths.corpus_dir_named(chosen or self.corpus_meta.get("name"))

    @property
    def codebook_sha256(self) -> str:
        return str(self.meta["files"][CODEBOOK_FILE])


def corpus_facts(corpus: Any) -> dict[str, Any]:
    """What a model records of the corpus it was trained on (to refuse a mismatched corpus later)."""
    m = corpus.manifest
    return {
        "name": corpus.path.name,
        "source_stem": m["source_stem"],
        "target_stem": m["target_stem"],
        "sample_rate_hz": m["sample_rate_hz"],
        "chunking": m["chunking"],
        "perception": m["perception"],
        "codebook_size": m["codebook"]["size"],
        "codebook_sha256": m["files"][CODEBOOK_FILE],
    }


def save_model(folder: Path, model: DecisionModel | ListenerModel, corpus: Any, training: dict[str, Any], feature_stats: FeatureStats | None = None) -> None:
    """Write weights, codebook copy (and a listener's feature statistics) and config.json (with hashes) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": MODEL_FORMAT})
    for name in (CODEBOOK_FILE, STATS_FILE):
        shutil.copyfile(corpus.path / name, folder / name)
    files = [WEIGHTS_FILE, CODEBOOK_FILE, STATS_FILE]
    if isinstance(model, ListenerModel):
        if feature_stats is None:
            raise ValueError("a listener is saved with its feature statistics")
        np.save(folder / LISTENER_STATS_FILE, feature_stats.array, allow_pickle=False)
        files.append(LISTENER_STATS_FILE)
    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "antiphon_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kind": "listener" if isinstance(model, ListenerModel) else "labels",
        "model": model.config.to_dict(),
        "corpus": corpus_facts(corpus),
        "training": training,
        "files": {name: sha256_file(folder / name) for name in files},
    }
    write_json(folder / CONFIG_FILE, meta)


def rewrite_model(bundle: DecisionBundle, model: DecisionModel | ListenerModel, training: dict[str, Any]) -> None:
    """Write new weights (and their config) into a loaded model's folder, with its training record
    replaced; the corpus facts, codebook and statistics stay. config.json is written last, so an
    interrupted rewrite leaves a folder whose weights fail their checksum (one-line refusal), never a
    silent mix."""
    folder = bundle.path
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": MODEL_FORMAT})
    meta = dict(bundle.meta)
    meta.update({
        "antiphon_version": __version__,
        "model": model.config.to_dict(),
        "training": training,
        "files": {**meta["files"], WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)},
    })
    write_json(folder / CONFIG_FILE, meta)


def load_model(folder: Path) -> DecisionBundle:
    """Load a model folder, checking format, hashes, tensor names, shapes and dtypes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AntiphonError(f"model folder {folder} does not exist (train one with `antiphon train`)")
    meta = read_json_object(folder / CONFIG_FILE, "decision model config")
    if meta.get("format") != MODEL_FORMAT:
        raise AntiphonError(f"{folder / CONFIG_FILE}: not an Antiphon decision model (format is {meta.get('format')!r})")
    if meta.get("format_version") not in READABLE_MODEL_FORMAT_VERSIONS:
        raise AntiphonError(f"{folder / CONFIG_FILE}: model format version {meta.get('format_version')!r} is not supported (this Antiphon reads {', '.join(map(str, READABLE_MODEL_FORMAT_VERSIONS))})")
    for key in ("model", "corpus", "files"):
        if not isinstance(meta.get(key), dict):
            raise AntiphonError(f"{folder / CONFIG_FILE}: '{key}' must be an object")
    kind = meta.get("kind", "labels")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise AntiphonError(f"{folder / CONFIG_FILE}: unknown model kind {kind!r} (this Antiphon knows {', '.join(MODEL_KINDS)})")
    config_class, model_class = MODEL_KINDS[kind]
    config = config_class.from_dict(meta["model"], where=str(folder / CONFIG_FILE))
    check_corpus_facts(meta["corpus"], str(folder / CONFIG_FILE))
    check_training(meta.get("training", {}), str(folder / CONFIG_FILE))
    for name in (WEIGHTS_FILE, CODEBOOK_FILE, STATS_FILE):
        verify_sha256(folder / name, meta["files"], name, folder / CONFIG_FILE)
    codebook = Codebook.load(folder, expected_size=config.num_labels)
    if kind == "listener" and codebook.dim != config.feature_dim:
        raise AntiphonError(f"{folder / CONFIG_FILE}: the listener reads {config.feature_dim}-dimensional features but its codebook has {codebook.dim}")
    stats = _read_feature_stats(folder, meta, config.feature_dim) if kind == "listener" else None
    model = model_class(config)
    model.load_state_dict(_read_weights(folder / WEIGHTS_FILE, model))
    model.eval()
    return DecisionBundle(path=folder, config=config, model=model, codebook=codebook, meta=meta, feature_stats=stats)


def _refuse(where: str, field: str, wanted: str, value: Any) -> AntiphonError:
    shown = repr(value)
    return AntiphonError(f"{where}: '{field}' must be {wanted}, got {shown if len(shown) <= 60 else shown[:57] + '...'}")


def _int_field(section: dict[str, Any], key: str, where: str, field: str, low: int, high: int) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(where, field, f"an integer in {low}..{high}", value)
    return value


def _text_field(section: dict[str, Any], key: str, where: str, field: str, none_ok: bool = False) -> str | None:
    value = section.get(key)
    if value is None and none_ok:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_CHARS:
        raise _refuse(where, field, f"a non-empty string{' or null' if none_ok else ''} (at most {MAX_TEXT_CHARS} characters)", value)
    return value


def _typed_fields(cls: Any, section: dict[str, Any], where: str, prefix: str) -> dict[str, Any]:
    """The fields of dataclass ``cls`` found in ``section``, each of its declared type (int, float or str)."""
    known = {}
    for f in fields(cls):
        if f.name not in section:
            continue
        value, kind = section[f.name], str(f.type)
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
            "str": isinstance(value, str) and len(value) <= MAX_TEXT_CHARS,
        }.get(kind, True)
        if not ok:
            raise _refuse(where, f"{prefix}.{f.name}", {"int": "an integer", "float": "a finite number"}.get(kind, "a string"), value)
        known[f.name] = value
    return known


def _section(parent: dict[str, Any], key: str, where: str, field: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _refuse(where, field, "an object", value)
    return value


def check_corpus_facts(facts: dict[str, Any], where: str) -> None:
    """What config.json says of the corpus a model was trained on: types and ranges, one-line errors naming the field."""
    try:
        paths.corpus_dir_named(facts.get("name"))
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: 'corpus.name': {exc}") from None
    for key in ("source_stem", "target_stem"):
        _text_field(facts, key, where, f"corpus.{key}")
    if "sample_rate_hz" in facts:
        _int_field(facts, "sample_rate_hz", where, "corpus.sample_rate_hz", *RATE_RANGE_HZ)
    if "codebook_size" in facts:
        _int_field(facts, "codebook_size", where, "corpus.codebook_size", 2, 4096)
    if "codebook_sha256" in facts:
        _text_field(facts, "codebook_sha256", where, "corpus.codebook_sha256")
    _check_chunking(_section(facts, "chunking", where, "corpus.chunking"), where)
    _check_perception(_section(facts, "perception", where, "corpus.perception"), where)


def _check_chunking(chunking: dict[str, Any], where: str) -> None:
    known = _typed_fields(ChunkingConfig, chunking, where, "corpus.chunking")
    if "sample_rate_hz" in known:
        _int_field(known, "sample_rate_hz", where, "corpus.chunking.sample_rate_hz", *RATE_RANGE_HZ)
    try:
        ChunkingConfig.from_dict(known)
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: 'corpus.chunking': {exc}") from None


def _check_perception(perception: dict[str, Any], where: str) -> None:
    backend = perception.get("backend")
    if backend not in BACKENDS:
        raise _refuse(where, "corpus.perception.backend", f"one of {', '.join(BACKENDS)}", backend)
    _int_field(perception, "dim", where, "corpus.perception.dim", 1, MAX_FEATURE_DIM)
    checkpoint = _text_field(perception, "checkpoint", where, "corpus.perception.checkpoint", none_ok=True)
    _text_field(perception, "checkpoint_sha256", where, "corpus.perception.checkpoint_sha256", none_ok=True)
    layer = -1
    if perception.get("layer") is not None:
        layer = _int_field(perception, "layer", where, "corpus.perception.layer", -MAX_HIDDEN_STATE, MAX_HIDDEN_STATE)
    try:
        PerceptionConfig(backend=backend, checkpoint=checkpoint, layer=layer)
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: 'corpus.perception': {exc}") from None


def check_training(training: Any, where: str) -> None:
    """config.json's "training": the settings it was trained with (as ``TrainConfig`` checks them) and the
    results the program reads again (piece lists, command line)."""
    if not isinstance(training, dict):
        raise _refuse(where, "training", "an object", training)
    known = _typed_fields(TrainConfig, training, where, "training")
    if known.get("default_corpus"):
        try:
            paths.corpus_dir_named(known["default_corpus"])
        except AntiphonError as exc:
            raise AntiphonError(f"{where}: 'training.default_corpus': {exc}") from None
    try:
        TrainConfig(**known)
    except AntiphonError as exc:
        raise AntiphonError(f"{where}: 'training': {exc}") from None
    for key in PIECE_LISTS:
        value = training.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _refuse(where, f"training.{key}", "a list of piece names", value)
    if "command" in training and not isinstance(training["command"], str):
        raise _refuse(where, "training.command", "a string", training["command"])


def _read_feature_stats(folder: Path, meta: dict[str, Any], dim: int) -> FeatureStats:
    path = folder / LISTENER_STATS_FILE
    verify_sha256(path, meta["files"], LISTENER_STATS_FILE, folder / CONFIG_FILE)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AntiphonError(f"{path}: not a readable .npy file ({' '.join(str(exc).split())})") from exc
    if array.dtype != np.float32 or array.shape != (4, dim) or not np.all(np.isfinite(array)) or np.any(array[[1, 3]] <= 0):
        raise AntiphonError(f"{path}: needs finite float32 [4, {dim}] with positive standard deviations, got {array.dtype} {array.shape}")
    return FeatureStats(array)


def _read_weights(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise AntiphonError(f"{path}: not a readable safetensors file ({' '.join(str(exc).split())})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise AntiphonError(f"{path}: tensors do not fit this decision model ({what}; {len(missing)} missing, {len(extra)} unexpected)")
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise AntiphonError(f"{path}: tensor {name} is {tensor.dtype} {tuple(tensor.shape)}, the config needs {want.dtype} {tuple(want.shape)}")
        if not torch.isfinite(tensor).all():
            raise AntiphonError(f"{path}: tensor {name} holds NaN or infinite values")
    return tensors


def check_model_fits_corpus(bundle: DecisionBundle, corpus: Any) -> None:
    """Refuse a corpus whose labels mean something else than the model's (one-line error)."""
    size = int(corpus.codebook.size)
    if size != bundle.config.num_labels:
        raise AntiphonError(
            f"model {bundle.path} predicts {bundle.config.num_labels} labels but corpus {corpus.path} has {size}: "
            "train a model on this corpus"
        )
    if corpus.manifest["files"][CODEBOOK_FILE] != bundle.codebook_sha256:
        raise AntiphonError(
            f"model {bundle.path} was trained with another codebook than corpus {corpus.path} "
            f"(trained on '{bundle.corpus_meta.get('name')}'): its labels would mean other sounds"
        )
