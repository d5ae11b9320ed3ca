"""The model card (``README.md``) written beside every trained decision model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.decision.checkpoint import WEIGHTS_FILE, DecisionBundle


def write_model_card(out_dir: Path, bundle: DecisionBundle, corpus: Any, training: dict[str, Any], results_md: str, history: list[dict[str, float]]) -> Path:
    c = bundle.config
    m = corpus.manifest
    hop = m["chunking"]["hop_s"] if m["chunking"]["mode"] == "uniform" else None
    size_mb = (out_dir / WEIGHTS_FILE).stat().st_size / 1e6
    held = training.get("heldout") or {}
    verdict = ""
    if held:
        verdict = (
            f"Held-out free-running accuracy **{100 * held['accuracy_free_running']:.1f} %** "
            f"(teacher-forced {100 * held['accuracy_teacher_forced']:.1f} %) against "
            f"**{100 * held['best_trivial_accuracy']:.1f} %** for the best trivial baseline "
            f"({held['best_trivial_baseline']}): ratio **{held['ratio_to_best_trivial']:.2f}x**."
        )
    lines = [
        f"# Decision model `{out_dir.name}`",
        "",
        "Causal, windowed Transformer that maps the performer's label sequence to the answer track's",
        "labels, one chunk at a time (see `agent/decision/model.py`).",
        "",
        "## Rebuild",
        "",
        "```",
        training.get("command") or "antiphon train ...",
        "```",
        "",
        "## Data",
        "",
        f"- corpus `{corpus.path.name}`: {m['source_stem']} (performer) -> {m['target_stem']} (answer)",
        f"- chunking: {m['chunking']['mode']}" + (f", hop {hop} s" if hop else "") + f"; perception `{m['perception']['backend']}` (dim {m['perception']['dim']}); codebook K = {c.num_labels}",
        f"- pieces: {len(training['fit_pieces'])} fit ({training['fit_chunks']} chunks), {len(training['validation_pieces'])} validation, {len(training['heldout_pieces'])} held out (never seen in training)",
        "",
        "## Model",
        "",
        f"- {c.num_layers} layers, width {c.width}, {c.num_heads} heads, FFN {c.ffn_width}, dropout {c.dropout}",
        f"- attention window {c.context_chunks} chunks" + (f" ({c.context_chunks * hop:.0f} s)" if hop else "") + ", ALiBi distance bias, KV-cache ring: constant cost per step",
        f"- anticipation {c.anticipation_chunks} chunk(s): the step fed with chunk t predicts the answer for chunk t+{c.anticipation_chunks}",
        f"- {bundle.model.num_parameters():,} parameters, `{WEIGHTS_FILE}` {size_mb:.2f} MB",
        "",
        "## Training",
        "",
        f"- {training['processes']} process(es), {training['epochs_run']} epochs (kept: epoch {training['best_epoch']}, chosen on validation {training['select_on']}: {abs(training['best_val_figure']):.4g}), {training['train_s']:.0f} s",
        f"- batch {training['batch_size']} crops of {training['crop_chunks']} chunks, AdamW lr {training['learning_rate']}, weight decay {training['weight_decay']}, label smoothing {training['label_smoothing']}, answer dropout {training['answer_dropout']}, early stopping after {training['patience_epochs']} epochs without improvement, seed {training['seed']}",
        "- loss curves: `loss.png`",
        "",
        "## Held-out evaluation",
        "",
    ]
    if results_md:
        lines += [
            verdict,
            "",
            "Per-chunk label accuracy against the true answer track; LCP = longest common prefix in",
            "chunks; grain run = mean run of consecutive corpus grains when the predictions are played",
            "through the grain selector with the held-out pieces' own grains excluded; fallback = label",
            "with no grain. Trivial baselines: random, unigram, copy-performer; the lookup table and",
            "repeat-previous rows are stronger, informed references. Plot: `evaluation.png`.",
            "",
            results_md,
        ]
    else:
        lines.append("No held-out pieces in the corpus: no evaluation.")
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def set_card_section(card: Path, heading: str, body: str) -> Path:
    """Write ``## heading`` with ``body`` into a model card, replacing that section if it is there."""
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    lines = text.splitlines()
    title = f"## {heading}"
    section = [title, "", body.rstrip(), ""]
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += section
    card.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return card


def _candidates_line(negatives: int, memory_grains: int) -> str:
    everything = "softmax over every training grain, the chunk's own work excluded"
    if not negatives or negatives >= memory_grains:
        return everything + (f" (the corpus holds fewer than the {negatives:,} a batch would sample)" if negatives else "")
    return f"softmax over {negatives:,} uniformly sampled training grains plus the targets each batch (sampled-softmax correction), the chunk's own work excluded"


def write_listener_card(out_dir: Path) -> Path:
    """The card of a freshly trained listener; ``antiphon evaluate --update-card`` adds its listening table."""
    from agent.decision.checkpoint import load_model
    from agent.decision.train_listener import TARGETS_K

    bundle = load_model(out_dir)
    c, t, m = bundle.config, bundle.meta["training"], bundle.corpus_meta
    hop = m["chunking"]["hop_s"] if m["chunking"]["mode"] == "uniform" else None
    size_mb = (out_dir / WEIGHTS_FILE).stat().st_size / 1e6
    lines = [
        f"# Listener `{out_dir.name}`",
        "",
        "Causal, windowed Transformer over the performer's feature vectors that scores every corpus grain",
        "as the answer for the next chunk and predicts its label (see `agent/decision/listener.py`). It",
        "learns from the corpus's pairs which recorded grains answer what it hears: no rule about pitch",
        "or consonance is written anywhere.",
        "",
        "## Rebuild",
        "",
        "```",
        t.get("command") or "antiphon train --kind listener ...",
        "```",
        "",
        "## Data",
        "",
        f"- corpus `{m['name']}`: {m['source_stem']} (performer) -> {m['target_stem']} (answer)",
        f"- chunking: {m['chunking']['mode']}" + (f", hop {hop} s" if hop else "") + f"; perception `{m['perception']['backend']}` (dim {m['perception']['dim']}); codebook K = {c.num_labels} (labels for accuracy and the trace)",
        f"- pieces: {len(t['fit_pieces'])} fit ({t['fit_chunks']} chunks), {len(t['validation_pieces'])} validation, {len(t['heldout_pieces'])} held out (never seen in training)",
        *([f"- plays `corpora/{t['default_corpus']}` by default (same codebook)"] if t.get("default_corpus") else []),
        "",
        "## Model",
        "",
        f"- {c.num_layers} layers, width {c.width}, {c.num_heads} heads, FFN {c.ffn_width}, dropout {c.dropout}; keys and queries of {c.key_dim}",
        f"- attention window {c.context_chunks} chunks" + (f" ({c.context_chunks * hop:.1f} s)" if hop else "") + ", ALiBi distance bias, KV-cache ring: constant cost per step",
        "- grain key: its answer feature and its recorded performer context (source features of the chunk before it and its own)",
        f"- {bundle.model.num_parameters():,} parameters, `{WEIGHTS_FILE}` {size_mb:.2f} MB",
        "",
        "## Training",
        "",
        f"- targets: for each chunk, the {TARGETS_K} grains of other works nearest to the true next answer chunk's feature (soft, by closeness); "
        + _candidates_line(t.get("negatives", 0), t.get("memory_grains", t["fit_chunks"])) + f"; plus next-label cross-entropy (weight {t.get('label_weight', 1.0)})",
        f"- {t['epochs_run']} epochs (kept: epoch {t['best_epoch']}, validation grain loss {t['best_val_figure']:.4g}), {t['train_s']:.0f} s; batch {t['batch_size']} crops of {t['crop_chunks']} chunks, AdamW lr {t['learning_rate']}, weight decay {t['weight_decay']}, seed {t['seed']}",
        "- loss curves: `loss.png`",
    ]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def label_head_card_text(record: dict) -> str:
    """The card's "Label head" section from what ``fit_label_head`` recorded."""
    r = record
    if r.get("replaced", True):
        lines = [
            "The next-label head was fitted again on the frozen trunk (`antiphon fit-label-head`, agent/decision/label_head.py): an MLP of width",
            f"{r['hidden_width']} over corpus `{r['corpus']}`'s training pieces ({r['fit_pieces']} fit, {r['fit_chunks']:,} chunks;",
            f"{r['validation_pieces']} validation pieces, split by the model's seed). Validation next-label accuracy {100 * r['val_accuracy_before']:.1f} %",
            f"with the head trained beside the grain loss, {100 * r['val_accuracy']:.1f} % refitted (kept epoch {r['best_epoch']} of {r['epochs_run']}; `label_head.png`).",
        ]
    else:
        lines = [
            "A next-label head fitted again on the frozen trunk (`antiphon fit-label-head`, agent/decision/label_head.py: an MLP of width",
            f"{r['hidden_width']} over corpus `{r['corpus']}`'s training pieces, {r['validation_pieces']} validation pieces) reached",
            f"{100 * r['val_accuracy']:.1f} % on validation against {100 * r['val_accuracy_before']:.1f} % for the head trained beside the grain loss: the model keeps that head.",
        ]
    lines.append("The trunk, queries and grain keys are unchanged, so every grain choice and listening figure is the same.")
    mix = r.get("grain_mix")
    if mix:
        temperatures = " / ".join(f"{t:g}" for t in sorted(mix["temperatures_tried"]))
        rows = "; ".join(f"weight {w:g}: " + " / ".join(f"{100 * g['val_accuracy']:.2f}" for g in mix["grid"] if g["weight"] == w)
                         for w in sorted(mix["weights_tried"]))
        lines += ["", "**Label mix.** The reported label also weighs the label mass of the grains the query scores",
                  "(`label_log_scores` in agent/decision/listener.py: head log-probabilities + weight x log of the softmax mass per label).",
                  f"Validation accuracy on corpus `{mix.get('corpus', r['corpus'])}`'s {mix.get('validation_pieces', r['validation_pieces'])} validation pieces, "
                  f"its {mix.get('fit_pieces', r['fit_pieces'])} fit pieces' {mix['memory_grains']:,} grains as the memory: head alone "
                  f"{100 * mix['val_accuracy_head_alone']:.2f} %; with the grains at temperatures {temperatures}: {rows} %.",
                  f"Kept: weight {mix['weight']:g}, temperature {mix['temperature']:g} ({100 * mix['val_accuracy']:.2f} %)." if mix["kept"]
                  else "None beat the head alone: the head decides alone (weight 0)."]
    commands = [r.get("command") or "antiphon fit-label-head --model ..."]
    commands += [r["mix_command"]] if r.get("mix_command") and r["mix_command"] not in commands else []
    return "\n".join([*lines, "", "```", *commands, "```"])
