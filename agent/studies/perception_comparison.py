"""Does a perception backend help the agent? The same pipeline run on each backend, measured.

For each backend (the pretrained small Wav2Vec2, the same architecture with random weights, the DSP
features): build a soprano -> bass corpus with its own codebook, train a decision model with the
shipped model's settings, and measure on the held-out pieces:
- decision accuracy, free-running and teacher-forced, and the best trivial baseline's accuracy on
  the same labels (each backend has its own codebook, so raw accuracies are on different label
  sets: an uninformative codebook can be easy to predict; read the ratio to the baseline too);
- codebook cluster purity against the sounding pitch class (from the chorales' MIDI, score.json),
  for the soprano (input) labels and the bass (answer) labels, with the majority-class purity of
  the same chunks as the floor;
- perception compute per 0.25 s chunk on one thread (mean, p99).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import AntiphonError

log = logging.getLogger(__name__)

KINDS = ("pretrained", "random", "dsp")
SOURCE, TARGET = "soprano", "bass"


@dataclass(frozen=True)
class CompareConfig:
    hop_s: float = 0.25
    codebook_size: int = 16
    layer: int = 0  # Wav2Vec2 hidden state: 0 had the best pitch-class purity on training pieces (states 0-3)
    timing_chunks: int = 300
    seed: int = 0


def pitch_class_at(notes: list[list[float]], start_s: float, end_s: float) -> int:
    """Pitch class (0-11) of the note sounding longest in [start_s, end_s), or -1 for a rest."""
    best, best_overlap = -1, 0.0
    for onset, duration, midi in notes:
        overlap = min(end_s, onset + duration) - max(start_s, onset)
        if overlap > best_overlap:
            best, best_overlap = int(midi) % 12, overlap
    return best


def purity(labels: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """(cluster purity, majority-class share) over the chunks whose class is known (>= 0)."""
    keep = classes >= 0
    labels, classes = labels[keep], classes[keep]
    if len(labels) == 0:
        return float("nan"), float("nan")
    hits = sum(np.bincount(classes[labels == k], minlength=12).max() for k in np.unique(labels))
    return float(hits / len(labels)), float(np.bincount(classes, minlength=12).max() / len(labels))


def _check_scores(pairs_dir: Path) -> None:
    from agent.pairs import read_heldout

    heldout = sorted(read_heldout(pairs_dir))
    if not heldout:
        raise AntiphonError(f"pairs folder {pairs_dir} has no held-out pieces (split.json): the comparison is measured on them")
    missing = [name for name in heldout if not (Path(pairs_dir) / name / "score.json").is_file()]
    if missing:
        raise AntiphonError(f"{len(missing)} held-out piece(s) of {pairs_dir} have no score.json (e.g. {missing[0]}): purity needs the notes (demo pairs have them)")


def corpus_purity(corpus: Any, pairs_dir: Path, heldout_only: bool = True) -> dict[str, float]:
    """Purity of the source and target labels against the soprano's and the bass's pitch classes."""
    rate = corpus.audio_rate_hz
    src_l, tgt_l, src_c, tgt_c = [], [], [], []
    for i, name in enumerate(corpus.piece_names):
        if heldout_only and corpus.piece_split(i) != "heldout":
            continue
        score_path = Path(pairs_dir) / name / "score.json"
        if not score_path.is_file():
            raise AntiphonError(f"{score_path} is missing: purity needs the pieces' notes (demo pairs have them)")
        notes = json.loads(score_path.read_text(encoding="utf-8"))["notes"]
        rows = corpus.piece_rows(i)
        for r in rows:
            s, e = corpus.grains.start_sample[r] / rate, corpus.grains.end_sample[r] / rate
            src_c.append(pitch_class_at(notes[SOURCE], s, e))
            tgt_c.append(pitch_class_at(notes[TARGET], s, e))
        src_l.append(corpus.grains.source_label[rows])
        tgt_l.append(corpus.grains.label[rows])
    sp, sm = purity(np.concatenate(src_l), np.array(src_c))
    tp, tm = purity(np.concatenate(tgt_l), np.array(tgt_c))
    return {"source_purity": sp, "source_majority": sm, "target_purity": tp, "target_majority": tm}


def heldout_audio(pairs_dir: Path, stem: str = SOURCE) -> list[np.ndarray]:
    """The held-out pieces' ``stem`` at the perception rate (what the timings read)."""
    from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
    from agent.pairs import read_heldout, scan_pairs

    heldout = read_heldout(pairs_dir)
    return [read_mono(p.stems[stem], PERCEPTION_RATE_HZ)[0] for p in scan_pairs(pairs_dir, (stem,)) if p.name in heldout]


def chunk_compute_ms(perception: Any, corpus_audio: list[np.ndarray], hop_s: float, count: int, seed: int) -> dict[str, float]:
    """Per-chunk feature time of ``count`` chunks of ``hop_s`` seconds, one at a time, one thread."""
    import torch

    from agent.audio_io import PERCEPTION_RATE_HZ

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    n = int(round(hop_s * PERCEPTION_RATE_HZ))
    rng = np.random.default_rng(seed)
    signals = [x for x in corpus_audio if len(x) > n]
    try:
        for _ in range(10):
            perception.features(signals[0][:n])  # warm-up
        times = []
        for _ in range(count):
            x = signals[int(rng.integers(len(signals)))]
            start = int(rng.integers(0, len(x) - n))
            t0 = time.perf_counter()
            perception.features(x[start : start + n])
            times.append(1e3 * (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(threads)
    ms = np.array(times)
    return {"mean_ms": float(ms.mean()), "p99_ms": float(np.percentile(ms, 99))}


def _reusable(corpus_dir: Path, model_dir: Path, identity: dict[str, Any], config: CompareConfig) -> bool:
    """A corpus and a finished model from an earlier run with the same perception and settings."""
    try:
        manifest = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
        meta = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (manifest.get("perception") == identity and manifest.get("codebook", {}).get("size") == config.codebook_size
            and manifest.get("chunking", {}).get("hop_s") == config.hop_s and bool(meta.get("training", {}).get("heldout"))
            and manifest.get("codebook", {}).get("seed") == config.seed)


def _perception_config(kind: str, pretrained: Path, random_dir: Path, layer: int):  # noqa: ANN202
    from agent.perception import PerceptionConfig

    if kind == "dsp":
        return PerceptionConfig(backend="dsp")
    return PerceptionConfig(backend="wav2vec2", checkpoint=str(pretrained if kind == "pretrained" else random_dir), layer=layer)


def compare_backends(pairs_dir: Path, pretrained: Path, work_dir: Path, config: CompareConfig = CompareConfig(), kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, Any]]:
    """Run the pipeline for each backend in ``kinds``; returns {kind: figures}."""
    from agent.chunking import ChunkingConfig
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.corpus.format import load_corpus
    from agent.decision.checkpoint import load_model
    from agent.decision.config import DecisionConfig, TrainConfig
    from agent.decision.train import train
    from agent.perception import load_perception
    from agent.perception.pretrain import read_architecture, save_random_encoder

    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise AntiphonError(f"unknown backend kind(s) {', '.join(sorted(unknown))}: choose from {', '.join(KINDS)}")
    arch = read_architecture(pretrained)
    _check_scores(pairs_dir)  # before any corpus is built: purity needs them at the end
    random_dir = save_random_encoder(work_dir / "random-encoder", arch, config.seed)
    timing_audio = heldout_audio(pairs_dir)[:5]
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        log.info("[%s] building the corpus, training the decision model, measuring", kind)
        perception_config = _perception_config(kind, pretrained, random_dir, config.layer)
        perception = load_perception(perception_config)
        corpus_dir, model_dir = work_dir / kind / "corpus", work_dir / kind / "model"
        if _reusable(corpus_dir, model_dir, perception.identity(), config):
            log.info("[%s] reusing the corpus and model already in %s", kind, work_dir / kind)
        else:
            build_corpus(pairs_dir, corpus_dir, CorpusBuildConfig(
                source_stem=SOURCE, target_stem=TARGET, chunking=ChunkingConfig(hop_s=config.hop_s), perception=perception_config,
                codebook_size=config.codebook_size, seed=config.seed), force=True)
            train(corpus_dir, model_dir, DecisionConfig(num_labels=config.codebook_size), TrainConfig(seed=config.seed), force=True)
        corpus = load_corpus(corpus_dir, with_audio=False)
        heldout_metrics = load_model(model_dir).meta["training"]["heldout"]
        results[kind] = {
            "perception": perception.identity(),
            "accuracy_free_running": heldout_metrics["accuracy_free_running"],
            "accuracy_teacher_forced": heldout_metrics["accuracy_teacher_forced"],
            "best_trivial_accuracy": heldout_metrics["best_trivial_accuracy"],
            "best_trivial_baseline": heldout_metrics["best_trivial_baseline"],
            "ratio_to_best_trivial": heldout_metrics["ratio_to_best_trivial"],
            **{k: round(v, 4) for k, v in corpus_purity(corpus, pairs_dir).items()},
            **{k: round(v, 3) for k, v in chunk_compute_ms(perception, timing_audio, config.hop_s, config.timing_chunks, config.seed).items()},
            "heldout_chunks": heldout_metrics["chunks"],
        }
    return results


HIGHER_IS_BETTER = (("free-running / best trivial", "ratio_to_best_trivial"), ("soprano-label purity", "source_purity"),
                    ("bass-label purity", "target_purity"), ("teacher-forced accuracy", "accuracy_teacher_forced"))


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    """One sentence per measure saying which backend wins, and where DSP stands."""
    notes = []
    for title, key in HIGHER_IS_BETTER:
        order = sorted(results, key=lambda k: -results[k][key])
        notes.append(f"- {title}: " + " > ".join(f"{k} ({results[k][key]:.3g})" for k in order))
    order = sorted(results, key=lambda k: results[k]["mean_ms"])
    notes.append("- compute per chunk (lower is better): " + " < ".join(f"{k} ({results[k]['mean_ms']:.2f} ms)" for k in order))
    notes.append("- Each backend has its own codebook, so raw accuracies are over different label sets; the ratio to the best"
                 " trivial baseline on the same labels and the purities are the comparable figures.")
    if "dsp" in results and "pretrained" in results:
        d, p = results["dsp"], results["pretrained"]
        better = [title for title, key in HIGHER_IS_BETTER if d[key] > p[key]]
        worse = [title for title, key in HIGHER_IS_BETTER if d[key] < p[key]]
        notes.append(f"- Where DSP is better than the pretrained encoder: {', '.join(better) or 'nowhere'}; worse: {', '.join(worse) or 'nowhere'};"
                     f" it costs {d['mean_ms']:.2f} ms per chunk against {p['mean_ms']:.2f} ms.")
        if d["target_purity"] - d["target_majority"] < p["target_purity"] - p["target_majority"]:
            notes.append(f"- DSP's answer labels say little about the bass's pitch (purity {d['target_purity']:.1%}, majority class"
                         f" {d['target_majority']:.1%}; pretrained {p['target_purity']:.1%}): what its model predicts well is mostly"
                         " not which note the bass plays.")
    return notes
