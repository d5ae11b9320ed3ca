"""The arrangement as a picture: piano roll, bar lines and the recognised chords above."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agent.arranger.bars import STEPS_PER_BEAT
from agent.arranger.songs import class_label


def plot_arrangement(png: Path, heard: Any, notes: np.ndarray, seconds: float = 40.0) -> Path:
    """The first ``seconds`` of an arrangement (``heard``: agent/arranger/arrange.py's Heard)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 5))
    shown = notes[notes[:, 0] < seconds] if len(notes) else notes
    for onset, duration, pitch, velocity in shown:
        ax.add_patch(plt.Rectangle((onset, pitch - 0.4), duration, 0.8, color=plt.cm.viridis(velocity / 127.0)))
    low, high = (int(shown[:, 2].min()) - 3, int(shown[:, 2].max()) + 6) if len(shown) else (36, 84)
    for t in heard.downbeats_s[heard.downbeats_s < seconds]:
        ax.axvline(t, color="0.7", lw=0.8)
    last = None
    for bar in heard.bars:
        for beat in range(0, len(bar.chords), STEPS_PER_BEAT):
            t = bar.step_times_s[beat]
            label = class_label(int(bar.chords[beat]))
            if t < seconds and label != last:
                ax.text(t, high - 1, label.replace(":maj", "").replace(":min", "m"), fontsize=8, va="bottom")
                last = label
    ax.set_xlim(0, min(seconds, float(heard.bars[-1].step_times_s[-1])))
    ax.set_ylim(low, high + 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(f"arrangement: {len(heard.bars)} bars, recognised chords above, bar lines grey")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return Path(png)
