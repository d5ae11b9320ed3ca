"""The listening figure: each answer's fit under its own performer and under the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.listening.fit import ListeningScore


def plot_listening(table: dict[str, dict[str, ListeningScore]], png: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(table)
    y = np.arange(len(methods))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.45 * len(methods) + 2.2), sharey=True)
    for ax, (fit, label) in zip(axes, (("consonance", "consonant share where both sound"), ("onset_f", "onset F-measure (+-50 ms)"))):
        matched = np.array([table[m][fit].matched for m in methods])
        other = np.array([table[m][fit].mismatched for m in methods])
        ax.barh(y + 0.2, matched, 0.4, label="under its own performer (matched)", color="tab:blue")
        ax.barh(y - 0.2, other, 0.4, label="under other pieces' performers", color="tab:gray")
        for yi, a, b in zip(y, matched, other):
            if np.isfinite(a) and np.isfinite(b):
                ax.text(max(a, b) + 0.01, yi, f"gain {a - b:+.3f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
        ax.set_xlabel(label)
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    axes[0].set_yticks(y, methods, fontsize=8)
    fig.suptitle(title or "does the answer listen? fit to its own performer vs to other pieces' (held-out)", y=0.995)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
