"""Plots shared by the training commands (PNG, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

Series = tuple[str, Sequence[float]]  # (legend label, values)


def line_panels(png: Path, x: Sequence[float], xlabel: str, panels: Sequence[tuple[str, Sequence[Series]]],
                marks: Sequence[tuple[float, str]] = ()) -> Path:
    """Side-by-side line plots over the same ``x``: one (y label, series) per panel; ``marks`` are
    dotted vertical lines with a legend entry on the first panel. Written to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for i, (ax, (ylabel, series)) in enumerate(zip(axes[0], panels)):
        for label, values in series:
            ax.plot(x, values, label=label)
        if i == 0:
            for position, label in marks:
                ax.axvline(position, color="grey", ls=":", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
