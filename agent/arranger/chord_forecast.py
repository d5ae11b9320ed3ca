"""Next-bar chord forecast for the live arranger: a bar is decided before it is heard, so its chord is predicted.

Played live with one bar of anticipation, the arranger must name bar n+1's chord while bar n still
sounds. Pop songs change chord nearly every bar (in POP909's held-out songs the next bar repeats
the previous bar's chord about 15 % of the time) but repeat their phrases. The forecast is a table
learned from the training songs' annotated chords, one majmin class per bar (the class most of the
bar carries): the context is the chords of the bars ``LAGS`` back (8, 4 and 1: a phrase ago, half a
phrase ago, the bar now), each relative to the root of the bar now, and the answer is the most
frequent next chord after that context (relative too: key-free). A context seen fewer than
``min_count`` times, or a history shorter than 8 bars, falls back to the chord of the bar a phrase
ago, then to the bar now. ``antiphon fit-chord-forecast`` fits it and scores it on held-out songs
beside those two fallbacks.

The folder holds ``forecast.npz`` (contexts and answers, int64; read with ``allow_pickle=False``),
``config.json`` and a card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.arranger.songs import NO_CHORD, NUM_CHORDS, chord_frames
from agent.errors import AntiphonError, require
from agent.files import read_json_object, write_json

FORECAST_FORMAT = "antiphon-chord-forecast"
FORECAST_FORMAT_VERSION = 1
LAGS = (8, 4, 1)
SAMPLES_PER_BAR = 8  # a bar's chord: the class most of these points (evenly across the bar) carry


@dataclass(frozen=True)
class ForecastConfig:
    lags: tuple[int, ...] = LAGS
    min_count: int = 2

    def __post_init__(self) -> None:
        require([
            (len(self.lags) >= 1 and all(1 <= lag <= 32 for lag in self.lags) and 1 in self.lags, f"lags must be 1..32 and include 1, got {self.lags}"),
            (self.min_count >= 1, f"min_count must be at least 1, got {self.min_count}"),
        ], "chord forecast: ")


def relative(chord: int, reference_root: int) -> int:
    if chord == NO_CHORD:
        return NO_CHORD
    quality, root = divmod(chord - 1, 12)
    return 1 + 12 * quality + (root - reference_root) % 12


def absolute(chord: int, reference_root: int) -> int:
    return relative(chord, -reference_root % 12)


def root_of(chord: int) -> int:
    return 0 if chord == NO_CHORD else (chord - 1) % 12


def bar_chords(score: dict[str, Any]) -> list[int]:
    """One majmin class per annotated bar of a song score (downbeat to downbeat)."""
    beats = np.asarray(score["beats"], float)
    downbeats = beats[np.asarray(score["downbeats"], bool)]
    chords = [(float(a), float(b), str(c)) for a, b, c in score["chords"]]
    out = []
    for a, b in zip(downbeats[:-1], downbeats[1:]):
        classes = chord_frames(chords, a + (b - a) * (np.arange(SAMPLES_PER_BAR) + 0.5) / SAMPLES_PER_BAR)
        out.append(int(np.bincount(classes, minlength=NUM_CHORDS).argmax()))
    return out


class ChordForecast:
    """The learned table (see the module docstring)."""

    def __init__(self, config: ForecastConfig, table: dict[tuple[int, ...], int], meta: dict[str, Any] | None = None) -> None:
        self.config, self.table, self.meta = config, table, meta or {}

    @classmethod
    def fit(cls, songs: list[list[int]], config: ForecastConfig = ForecastConfig()) -> "ChordForecast":
        counts: dict[tuple[int, ...], np.ndarray] = {}
        span = max(config.lags)
        for chords in songs:
            for i in range(span, len(chords)):
                context = cls._context(chords[:i], config.lags)
                counts.setdefault(context, np.zeros(NUM_CHORDS, dtype=np.int64))[relative(chords[i], root_of(chords[i - 1]))] += 1
        table = {c: int(v.argmax()) for c, v in counts.items() if v.sum() >= config.min_count}
        return cls(config, table, {"fit_songs": len(songs), "contexts": len(table)})

    @staticmethod
    def _context(history: list[int], lags: tuple[int, ...]) -> tuple[int, ...]:
        reference = root_of(history[-1])
        return tuple(relative(history[-lag], reference) for lag in lags)

    def predict(self, history: list[int]) -> int:
        """The next bar's chord after the bars ``history`` (oldest first; the last is the bar now)."""
        if not history:
            return NO_CHORD
        if len(history) < max(self.config.lags):
            return history[-1]
        answer = self.table.get(self._context(history, self.config.lags))
        if answer is None:
            return history[-8] if len(history) >= 8 else history[-1]
        return absolute(answer, root_of(history[-1]))

    # -- the folder -------------------------------------------------------------------------------
    def save(self, folder: Path, extra: dict[str, Any]) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        contexts = np.array(list(self.table), dtype=np.int64).reshape(-1, len(self.config.lags))
        np.savez(folder / "forecast.npz", contexts=contexts, answers=np.array(list(self.table.values()), dtype=np.int64))
        write_json(folder / "config.json", {"format": FORECAST_FORMAT, "format_version": FORECAST_FORMAT_VERSION,
                                            "forecast": {**asdict(self.config), "lags": list(self.config.lags)}, **self.meta, **extra})

    @classmethod
    def load(cls, folder: Path) -> "ChordForecast":
        folder = Path(folder)
        meta = read_json_object(folder / "config.json", "chord-forecast config")
        if meta.get("format") != FORECAST_FORMAT or meta.get("format_version") != FORECAST_FORMAT_VERSION:
            raise AntiphonError(f"{folder} is not a chord forecast (format {meta.get('format')!r} version {meta.get('format_version')!r})")
        settings = meta.get("forecast")
        try:
            config = ForecastConfig(lags=tuple(int(v) for v in settings["lags"]), min_count=int(settings["min_count"]))
        except (TypeError, KeyError, ValueError) as exc:
            raise AntiphonError(f"{folder / 'config.json'}: bad 'forecast' settings ({exc})") from None
        try:
            with np.load(folder / "forecast.npz", allow_pickle=False) as data:
                contexts, answers = data["contexts"], data["answers"]
        except (OSError, ValueError, KeyError) as exc:
            raise AntiphonError(f"cannot read {folder / 'forecast.npz'}: {exc}") from None
        if contexts.ndim != 2 or contexts.shape[1] != len(config.lags) or answers.shape != (len(contexts),) \
                or contexts.min(initial=0) < 0 or contexts.max(initial=0) >= NUM_CHORDS or answers.min(initial=0) < 0 or answers.max(initial=0) >= NUM_CHORDS:
            raise AntiphonError(f"{folder / 'forecast.npz'}: contexts and answers do not fit {len(config.lags)} lags of {NUM_CHORDS} classes")
        return cls(config, {tuple(int(v) for v in c): int(a) for c, a in zip(contexts, answers)}, meta)


def forecast_accuracy(forecast: ChordForecast, songs: list[list[int]]) -> dict[str, float]:
    """Share of bars (from the 9th of each song) whose chord each predictor names: the table, the
    bar a phrase (8 bars) ago, the bar before."""
    hits = {"forecast": 0, "the bar 8 bars back": 0, "the bar before": 0}
    total = 0
    for chords in songs:
        for i in range(8, len(chords)):
            history = chords[:i]
            hits["forecast"] += forecast.predict(history) == chords[i]
            hits["the bar 8 bars back"] += history[-8] == chords[i]
            hits["the bar before"] += history[-1] == chords[i]
            total += 1
    return {k: round(v / max(total, 1), 4) for k, v in hits.items()} | {"bars": total}
