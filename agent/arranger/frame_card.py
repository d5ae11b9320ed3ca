"""A frame model's card (README.md in its folder): chord recogniser or beat model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.arranger.frame_checkpoint import WEIGHTS_FILE, load_frame_model
from agent.arranger.spectrum import lookahead_s
from agent.decision.model_card import set_card_section

CARD = "README.md"


def write_frame_card(folder: Path) -> Path:
    bundle = load_frame_model(folder)
    c, f, t = bundle.config, bundle.features, bundle.meta["training"]
    hears = "the whole mix (song mode)" if c.hears == "mix" else "the melody alone (performer mode)"
    if c.task == "chords":
        title, what = "Chord recogniser", f"Causal recogniser of the 25 majmin chord classes (N, 12 major, 12 minor) per frame; it hears {hears}" + \
            (" and names the chord that goes with it so far (harmonisation)." if c.hears == "melody" else " and names its chords.")
    else:
        title, what = "Beat model", f"Causal per-frame probabilities of none / beat / downbeat; it hears {hears}. The beat tracker reads them (agent/arranger/beat_eval.py)."
    lines = [
        f"# {title} `{Path(folder).name}`",
        "",
        what,
        "Trained on POP909 songs rendered with fluidsynth (`antiphon make-song-set`); see agent/arranger/.",
        "",
        "## Rebuild",
        "",
        "```",
        t.get("command") or f"antiphon train-{c.task} ...",
        "```",
        "",
        "## Data",
        "",
        f"- song set `{t['song_set']}`: {len(t['fit_songs'])} fit renderings ({t['fit_frames']:,} frames), {len(t['validation_songs'])} validation, "
        f"{len(t['heldout_songs'])} held out (SHA-1 of the song name % 10 == 0)",
        f"- every crop moved by a random -{t['transpose_semitones'] - 1}..+{t['transpose_semitones']} semitones (spectrum" + (" and chord labels)" if c.task == "chords" else ")") if t["transpose_semitones"] else "- no transposition",
        "",
        "## Model",
        "",
        f"- input: constant-Q spectrum, {f.bins} semitone bins from MIDI {f.fmin_midi}, a frame every {1000 * f.frame_s:.1f} ms at {f.sample_rate_hz} Hz, "
        f"relative to the frame's loudest bin, plus its loudness; a frame looks {1000 * lookahead_s(f):.0f} ms ahead (the longest filter)",
        f"- {c.conv_layers} dilated causal convolutions and a GRU of width {c.width}; each frame classified {c.delay_frames} frames late ({1000 * c.delay_frames * f.frame_s:.0f} ms)",
        f"- {bundle.model.num_parameters():,} parameters, `{WEIGHTS_FILE}` {(Path(folder) / WEIGHTS_FILE).stat().st_size / 1e6:.2f} MB",
        "",
        "## Training",
        "",
        f"- {t['epochs_run']} epochs (kept: epoch {t['best_epoch']}, validation frame cross-entropy {t['best_val_loss']:.4g}), {t['train_s']:.0f} s; "
        f"batch {t['batch_size']} crops of {t['crop_frames']} frames, AdamW lr {t['learning_rate']}, seed {t['seed']}",
        "- loss curves: `loss.png`",
        "",
    ]
    path = Path(folder) / CARD
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def set_card_scores(folder: Path, report: dict[str, Any], table: str, png: str) -> Path:
    body = (f"{report['heldout_songs']} held-out songs, mir_eval, over all of them (`antiphon evaluate-{'chords' if png.startswith('chords') else 'beats'}`; "
            f"`{png}` shows one):\n\n" + table)
    return set_card_section(Path(folder) / CARD, "Held-out evaluation", body)
