"""The README.md model card of a pretrained small Wav2Vec2, written from the files beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.paths import REPO_ROOT

COMPARISON_FILE = "comparison.json"


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _shown(folder: Path) -> str:
    """The folder as a command would name it: relative to the repository when it is inside it."""
    resolved = folder.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(folder)


def write_perception_card(folder: Path) -> Path:
    arch = _read(folder / "architecture.json") or {}
    config = _read(folder / "pretrain_config.json") or {}
    history = _read(folder / "history.json") or {"history": [], "train_s": 0.0}
    comparison = _read(folder / COMPARISON_FILE)
    weights = folder / "model.safetensors"
    size_mb = weights.stat().st_size / 1e6 if weights.is_file() else 0.0
    rows = history["history"]
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    lines = [
        f"# {folder.name}: Antiphon's small Wav2Vec2 (perception)",
        "",
        "A wav2vec 2.0 encoder pretrained here, self-supervised (contrastive objective with a quantizer,",
        "transformers `Wav2Vec2ForPreTraining`), on every stem of the training pieces of the pairs folder",
        "named in the rebuild command below (its held-out pieces are never seen). Saved with `save_pretrained` (safetensors); the `wav2vec2`",
        "perception backend loads it like any hub checkpoint: `--perception wav2vec2 --checkpoint "
        f"{_shown(folder)}`.",
        "",
        "## Architecture",
        "",
        f"- feature encoder: 7 conv layers of {arch.get('conv_channels')} channels (400-sample receptive field, 20 ms frames);"
        f" Transformer: {arch.get('num_layers')} layers, width {arch.get('hidden_size')}, {arch.get('num_heads')} heads,"
        f" feed-forward {arch.get('ffn_size')}",
        f"- quantizer for pretraining (not saved): {arch.get('codevector_groups')} groups x {arch.get('codevectors_per_group')} codevectors",
        f"- `model.safetensors`: {size_mb:.2f} MB (encoder only)",
        "",
        "## Pretraining",
        "",
        f"- {config.get('steps')} steps of {config.get('batch_size')} crops of {config.get('crop_s')} s, AdamW lr {config.get('learning_rate')}"
        f" (warm-up {config.get('warmup_steps')} steps, cosine), mask probability {arch.get('mask_time_prob')} x {arch.get('mask_time_length_frames')} frames,"
        f" {arch.get('num_negatives')} negatives, Gumbel temperature {config.get('gumbel_start')} -> {config.get('gumbel_end')}, seed {config.get('seed')}",
        f"- {history['train_s'] / 60:.1f} min on this machine ({config.get('threads')} threads)",
    ]
    if config.get("augment_prob"):
        lines.append(f"- {100 * config['augment_prob']:.0f} % of the crops heard through a random room, EQ, noise and gain"
                     " (`agent/audio_augment.py`) while the quantized targets come from the clean crop (meant to make the"
                     " features ignore the room; measured in docs/listening.md, *Heard through a room*); the held-out loss"
                     " below is measured on crops augmented the same way")
    if rows:
        lines.append(f"- loss per masked frame, held-out pieces: {first['val_loss']:.3f} at step {first['step']} -> {last['val_loss']:.3f} at step {last['step']}"
                     f" (training: {first['train_loss']:.3f} -> {last['train_loss']:.3f}); curves in `loss.png`")
    if history.get("command"):
        lines += ["", "Rebuild:", "", "```", history["command"], "```"]
        if folder.name == "antiphon-w2v2-small":
            lines += ["", "`bash scripts/pretrain-perception.sh` renders the data and runs the shipped encoder's command into"
                      " `models/antiphon-w2v2-small`, then measures it (below)."]
    lines += ["", "## Does it help? (`antiphon compare-perception`)", ""]
    if comparison is None:
        lines.append("Not measured yet: run `antiphon compare-perception`.")
    else:
        c = comparison.get("config", {})
        pairs = Path(str(comparison.get("pairs")))
        pairs_shown = pairs.relative_to(REPO_ROOT) if pairs.is_absolute() and pairs.is_relative_to(REPO_ROOT) else pairs
        lines += [f"Soprano -> bass on `{pairs_shown}`, K={c.get('codebook_size')}, hop {c.get('hop_s')} s, Wav2Vec2 hidden state"
                  f" {c.get('layer')} (chosen on training pieces: the best pitch-class purity of states 0-3), decision model with the shipped"
                  " model's settings; figures on the held-out pieces.", "",
                  markdown_table(comparison["results"]), "", *comparison.get("notes", [])]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# the comparison's table (agent/studies/perception_comparison.py): how the card and the study print it
ROWS = (
    ("decision accuracy, free-running", "accuracy_free_running", "{:.1%}"),
    ("decision accuracy, teacher-forced", "accuracy_teacher_forced", "{:.1%}"),
    ("best trivial baseline on the same labels", "best_trivial_accuracy", "{:.1%}"),
    ("free-running / best trivial", "ratio_to_best_trivial", "{:.2f}x"),
    ("soprano-label purity vs pitch class", "source_purity", "{:.1%}"),
    ("(majority pitch class)", "source_majority", "{:.1%}"),
    ("bass-label purity vs pitch class", "target_purity", "{:.1%}"),
    ("(majority pitch class)", "target_majority", "{:.1%}"),
    ("perception per 0.25 s chunk, mean", "mean_ms", "{:.2f} ms"),
    ("perception per 0.25 s chunk, p99", "p99_ms", "{:.2f} ms"),
)


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    kinds = list(results)
    lines = ["| measure (held-out pieces) | " + " | ".join(kinds) + " |", "| --- |" + " ---: |" * len(kinds)]
    for title, key, fmt in ROWS:
        lines.append(f"| {title} | " + " | ".join(fmt.format(results[k][key]) for k in kinds) + " |")
    return "\n".join(lines)
