"""A rendered C-F-G-C progression: what the live arranger's tests hear."""

from __future__ import annotations

from pathlib import Path

from agent import paths

PROGRESSION = [("C:maj", (48, 60, 64, 67)), ("F:maj", (53, 60, 65, 69)), ("G:maj", (55, 59, 62, 67)), ("C:maj", (48, 60, 64, 67))]


def render_progression(path: Path, rounds: int = 3, bpm: float = 120.0, rate_hz: int = 22_050) -> Path:
    """A piano playing C F G C, one chord a bar, block chords on every beat (the downbeat louder)."""
    from agent.demo.render import render_parts

    beat = 60.0 / bpm
    notes = [((4 * (4 * r + i) + b) * beat, 0.8 * beat, p, 90 if b == 0 else 70)
             for r in range(rounds) for i, (_, pitches) in enumerate(PROGRESSION) for b in range(4) for p in pitches]
    render_parts(path, [(0, notes)], duration_s=16 * rounds * beat + 0.5, rate_hz=rate_hz, soundfont=paths.default_soundfont())
    return path
