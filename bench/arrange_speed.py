"""Offline arrangement speed: `antiphon arrange`'s stages on a song, as a multiple of real time.

    python bench/arrange_speed.py [--input song.wav] [--seconds 180] [--mode song]

Without --input, a 3-minute piece is rendered here (fluidsynth, a piano playing a I-V-vi-IV
progression in block chords on the beat at 100 bpm, a flute melody of chord tones). Prints the
time of each stage (reading, beats, chords, melody in performer mode, the texture model bar by bar,
writing MIDI/WAV/mix/plot) and the whole, and the ratio of the input's duration to the wall time.
Target (issue 15): a 3-minute song arranged at >= 10x real time.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from agent import paths
from agent.arranger import arrange as arranging
from agent.arranger.arrange import ArrangeConfig, ArrangerModels, arrange_file
from agent.demo.render import render_parts


def synthetic_song(path: Path, seconds: float) -> None:
    beat_s = 60.0 / 100.0
    progression = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))
    piano, flute = [], []
    rng = np.random.default_rng(0)
    for beat in range(int(seconds / beat_s)):
        chord = progression[(beat // 4) % 4]
        piano += [(beat * beat_s, beat_s * 0.9, 48 + p, 75) for p in chord]
        flute.append((beat * beat_s, beat_s * 0.95, 72 + int(rng.choice(chord)) % 12, 90))
    render_parts(path, [(0, piano), (73, flute)], seconds, 22_050, paths.default_soundfont())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=None, help="an audio file (default: a 3-minute piece rendered here)")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the rendered piece")
    parser.add_argument("--mode", choices=("song", "performer"), default="song")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="antiphon-arrange-bench-") as tmp:
        source = Path(args.input) if args.input else Path(tmp) / "song.wav"
        if not args.input:
            synthetic_song(source, args.seconds)
        t0 = time.perf_counter()
        models = ArrangerModels.load(args.mode)
        loaded = time.perf_counter() - t0
        stages: dict[str, float] = {}

        def timed(name, fn):
            def wrapper(*a, **k):
                start = time.perf_counter()
                out = fn(*a, **k)
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
                return out
            return wrapper

        arranging.hear = timed("hear: beats, chords (melody)", arranging.hear)
        arranging.play = timed("play: texture model, every bar", arranging.play)
        start = time.perf_counter()
        report = arrange_file(source, Path(tmp) / "out", ArrangeConfig(mode=args.mode), models)
        total = time.perf_counter() - start
    duration = report["duration_s"]
    print(f"input {duration:.1f} s, {report['bars']} bars, {report['notes']} notes; models loaded in {loaded:.2f} s")
    for name, seconds in stages.items():
        print(f"  {name:<36} {seconds:6.2f} s")
    print(f"  {'reading, writing MIDI/WAV/mix/plot':<36} {total - sum(stages.values()):6.2f} s")
    print(f"arranged in {total:.2f} s: {duration / total:.1f}x real time (target >= 10x)")


if __name__ == "__main__":
    main()
