"""The loop generator's commands of the `antiphon` CLI (registered by agent/cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent import paths
from agent.cli_types import positive_count
from agent.loops.loop_set import KINDS, LoopSetConfig


def cmd_make_loops(args: argparse.Namespace) -> int:
    from agent.errors import AntiphonError
    from agent.files import check_output_place
    from agent.loops.loop_set import make_loop_set

    check_output_place(Path(args.out))
    soundfont = Path(args.soundfont) if args.soundfont else paths.default_soundfont()
    if soundfont is None or not Path(soundfont).is_file():
        raise AntiphonError("no General MIDI soundfont found to render loops; install fluid-soundfont-gm or pass --soundfont")
    config = LoopSetConfig(loops=args.loops, bars=args.bars, bpm_low=args.bpm_low, bpm_high=args.bpm_high,
                           sample_rate_hz=args.sample_rate_hz, seed=args.seed)
    names = make_loop_set(Path(args.out), config, Path(soundfont), workers=args.workers)
    sys.stdout.write(f"loop set     {args.out} ({len(names)} loops of {args.bars} bars: {', '.join(KINDS)}; WAV + JSON each, loops.json)\n")
    return 0


def cmd_loop_tempo(args: argparse.Namespace) -> int:
    from agent.audio_io import read_mono
    from agent.loops.loop_set import read_loop_folder
    from agent.loops.tempo import loop_tempo, tempo_is_right

    loops = read_loop_folder(Path(args.folder))
    right = 0
    for path, bpm in loops:
        audio, rate = read_mono(path)
        estimate = loop_tempo(audio, rate)
        ok = tempo_is_right(estimate, bpm)
        right += ok
        sys.stdout.write(f"{path.name}\t{bpm:g}\t{estimate:.1f}\t{'right' if ok else 'wrong'}\n")
    sys.stdout.write(f"tempo right (within 4 %, octave errors wrong): {right} of {len(loops)} ({right / len(loops):.1%})\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction, fmt: type) -> None:
    p = sub.add_parser("make-loops", help="render loops of known tempo (drums, bass, chords, grooves) with fluidsynth: the loop generator's data",
                       formatter_class=fmt)
    p.add_argument("--out", default=str(paths.CORPORA_DIR / "loops"), help="folder to write the loops into (rendered ones are kept)")
    p.add_argument("--loops", type=int, default=LoopSetConfig.loops, help="how many loops")
    p.add_argument("--bars", type=int, choices=(1, 2, 4), default=LoopSetConfig.bars, help="bars of 4/4 per loop")
    p.add_argument("--bpm-low", type=float, default=LoopSetConfig.bpm_low, help="slowest tempo (bpm)")
    p.add_argument("--bpm-high", type=float, default=LoopSetConfig.bpm_high, help="fastest tempo (bpm)")
    p.add_argument("--sample-rate-hz", type=int, default=LoopSetConfig.sample_rate_hz, help="audio rate")
    p.add_argument("--seed", type=int, default=LoopSetConfig.seed, help="seed of every loop's draws")
    p.add_argument("--workers", type=positive_count, default=2, help="fluidsynth processes at once (at least 1)")
    p.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: the system's FluidR3_GM or GeneralUser)")
    p.set_defaults(handler=cmd_make_loops)

    p = sub.add_parser("loop-tempo", help="the tempo a beat tracker hears in each loop of a folder, against the tempo in its name or tempo.csv",
                       formatter_class=fmt)
    p.add_argument("folder", help="folder of loops: the tempo in each name ('..._124bpm.wav') or in tempo.csv (file,bpm)")
    p.set_defaults(handler=cmd_loop_tempo)
