"""Building a corpus from a pairs folder: chunk, perceive, fit the codebook, label, write.

Chunk boundaries come from the source (performer) track, the only one the live agent hears;
both tracks are cut at the same boundaries, so each chunk has a source label and a target label
and the target chunk is the grain. The codebook is fit on the source and target features of the
training pieces only (held-out pieces are labelled with it but never shape it).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agent import __version__
from agent.audio_augment import AugmentConfig
from agent.audio_io import PERCEPTION_RATE_HZ, audio_info, read_mono, write_audio
from agent.chunking import ChunkingConfig
from agent.codebook import CODEBOOK_FILE, STATS_FILE, Codebook
from agent.corpus.format import AUDIO_DIR, FORMAT_NAME, FORMAT_VERSION, GRAINS_FILE, MANIFEST_FILE, is_corpus_folder
from agent.corpus.perceive import perceive_pair, source_hearing
from agent.errors import AntiphonError
from agent.files import check_replaceable, sha256_file, write_json
from agent.pairs import DEFAULT_LENGTH_TOLERANCE_S, read_heldout, renderings_of, scan_pairs
from agent.perception import PerceptionConfig, load_perception

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusBuildConfig:
    """Everything that decides what a corpus holds (saved in its manifest)."""

    source_stem: str
    target_stem: str
    chunking: ChunkingConfig = ChunkingConfig()
    perception: PerceptionConfig = PerceptionConfig()
    codebook_size: int = 32
    seed: int = 0
    audio_rate_hz: int | None = None  # None: the target stem's own rate (of the first piece)
    length_tolerance_s: float = DEFAULT_LENGTH_TOLERANCE_S
    codebook_from: str | None = None  # folder holding codebook.npy + codebook_stats.npy to reuse instead of fitting
    augment_source_share: float = 0.0  # share of pieces whose source is heard through a random room/EQ/noise (seeded by seed and name)

    def __post_init__(self) -> None:
        if self.source_stem == self.target_stem:
            raise AntiphonError(f"source and target must be different stems, both are '{self.source_stem}'")
        if not 0.0 <= self.augment_source_share <= 1.0:
            raise AntiphonError(f"augment_source_share must be between 0 and 1, got {self.augment_source_share}")
        if self.audio_rate_hz is not None and not 8000 <= self.audio_rate_hz <= 192_000:
            raise AntiphonError(f"audio_rate_hz must be between 8000 and 192000, got {self.audio_rate_hz}")


@dataclass
class _PieceData:
    name: str
    split: str
    target_audio: np.ndarray
    bounds: np.ndarray  # [n, 2] at the perception rate
    source_features: np.ndarray
    target_features: np.ndarray


def heldout_with_renderings(heldout: set[str], names: list[str]) -> set[str]:
    """The held-out pieces and every other rendering of their works (``<work>@<variant>``): one
    rendering of a held-out work in training would teach the model the music it is judged on."""
    extra = sorted(names[i] for i in renderings_of(heldout, names) if names[i] not in heldout)
    if extra:
        log.warning("holding out %d more piece(s) that render held-out works (e.g. %s): split.json lists only some renderings", len(extra), extra[0])
    return set(heldout) | set(extra)


def build_corpus(pairs_dir: Path, out_dir: Path, config: CorpusBuildConfig, force: bool = False) -> Path:
    """Build a corpus folder from a pairs folder; returns the folder. Writes atomically."""
    out_dir = Path(out_dir)
    if force:
        check_replaceable(out_dir, is_corpus_folder, "corpus", f"corpus ({MANIFEST_FILE} of format {FORMAT_NAME})")
    elif out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise AntiphonError(f"{out_dir} already exists; pass --force to replace it")
    pieces = scan_pairs(Path(pairs_dir), (config.source_stem, config.target_stem))
    heldout = heldout_with_renderings(read_heldout(Path(pairs_dir)), [p.name for p in pieces])
    unknown = heldout - {p.name for p in pieces}
    if unknown:
        log.warning("split.json names pieces that are not in the pairs folder: %s", ", ".join(sorted(unknown)))
    audio_rate = config.audio_rate_hz or audio_info(pieces[0].stems[config.target_stem])[0]
    perception = load_perception(config.perception)

    data: list[_PieceData] = []
    for piece in tqdm(pieces, desc="perceiving pieces", unit="piece", disable=None):
        seen = perceive_pair(piece, config.source_stem, config.target_stem, config.chunking, perception, config.length_tolerance_s,
                             hear_source=source_hearing(config.seed, piece.name, config.augment_source_share))
        if seen is None:
            continue
        target_audio, _ = read_mono(piece.stems[config.target_stem], audio_rate)
        target_audio = target_audio[: int(round(len(seen.pair.target) * audio_rate / PERCEPTION_RATE_HZ))]
        data.append(
            _PieceData(
                name=piece.name,
                split="heldout" if piece.name in heldout else "train",
                target_audio=target_audio,
                bounds=seen.bounds,
                source_features=seen.source_features,
                target_features=seen.target_features,
            )
        )
    if not data:
        raise AntiphonError(f"pairs folder {pairs_dir}: no piece is long enough for one chunk")

    if config.codebook_from:
        codebook = Codebook.load(Path(config.codebook_from), expected_dim=perception.dim)
        log.info("labelling with the %d-label codebook of %s", codebook.size, config.codebook_from)
    else:
        fit_pieces = [d for d in data if d.split == "train"] or data
        if len(fit_pieces) < len(data):
            log.info("fitting the codebook on %d training pieces (%d held out)", len(fit_pieces), len(data) - len(fit_pieces))
        fit_features = np.concatenate([f for d in fit_pieces for f in (d.source_features, d.target_features)])
        log.info("fitting a %d-label codebook on %d feature vectors", config.codebook_size, len(fit_features))
        codebook = Codebook.fit(fit_features, config.codebook_size, seed=config.seed)

    staging = out_dir.with_name(f".{out_dir.name}.building")
    if staging.exists():
        shutil.rmtree(staging)
    (staging / AUDIO_DIR).mkdir(parents=True)
    try:
        _write(staging, data, codebook, config, perception.identity(), audio_rate)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log.info("wrote corpus %s", out_dir)
    return out_dir


def _write(
    folder: Path,
    data: list[_PieceData],
    codebook: Codebook,
    config: CorpusBuildConfig,
    perception_identity: dict,
    audio_rate: int,
) -> None:
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("piece", "start", "end", "label", "source_label", "feature", "source_feature")}
    pieces_meta = []
    scale = audio_rate / PERCEPTION_RATE_HZ
    for index, d in enumerate(tqdm(data, desc="writing corpus", unit="piece", disable=None)):
        audio_name = f"{AUDIO_DIR}/{d.name}.flac"
        write_audio(folder / audio_name, d.target_audio, audio_rate)
        starts = np.round(d.bounds[:, 0] * scale).astype(np.int64)
        ends = np.minimum(np.round(d.bounds[:, 1] * scale).astype(np.int64), len(d.target_audio))
        rows["piece"].append(np.full(len(starts), index, dtype=np.int32))
        rows["start"].append(starts)
        rows["end"].append(ends)
        rows["label"].append(codebook.labels(d.target_features).astype(np.int32))
        rows["source_label"].append(codebook.labels(d.source_features).astype(np.int32))
        rows["feature"].append(d.target_features)
        rows["source_feature"].append(d.source_features)
        pieces_meta.append(
            {
                "name": d.name,
                "audio": audio_name,
                "num_samples": int(len(d.target_audio)),
                "duration_s": round(len(d.target_audio) / audio_rate, 3),
                "num_grains": int(len(starts)),
                "split": d.split,
            }
        )
    np.savez(
        folder / GRAINS_FILE,
        piece=np.concatenate(rows["piece"]),
        start_sample=np.concatenate(rows["start"]),
        end_sample=np.concatenate(rows["end"]),
        label=np.concatenate(rows["label"]),
        source_label=np.concatenate(rows["source_label"]),
        feature=np.concatenate(rows["feature"]).astype(np.float32),
        source_feature=np.concatenate(rows["source_feature"]).astype(np.float32),
    )
    codebook.save(folder)
    files = {name: sha256_file(folder / name) for name in (GRAINS_FILE, CODEBOOK_FILE, STATS_FILE)}
    files.update({p["audio"]: sha256_file(folder / p["audio"]) for p in pieces_meta})
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "antiphon_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sample_rate_hz": PERCEPTION_RATE_HZ,
        "audio_rate_hz": int(audio_rate),
        "source_stem": config.source_stem,
        "target_stem": config.target_stem,
        "chunking": config.chunking.to_dict(),
        "perception": perception_identity,
        "augment_source": {"share": config.augment_source_share, "seed": config.seed, "chain": AugmentConfig().to_dict()} if config.augment_source_share > 0 else None,
        "codebook": {
            "size": codebook.size,
            "seed": config.seed,
            "fit_on": f"reused from {config.codebook_from}" if config.codebook_from else "source+target features of training pieces",
        },
        "num_grains": int(sum(p["num_grains"] for p in pieces_meta)),
        "pieces": pieces_meta,
        "files": files,
    }
    write_json(folder / MANIFEST_FILE, manifest)
