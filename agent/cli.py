"""The `antiphon` command: one CLI, one subcommand per job. `antiphon <command> --help` for each."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from agent import __version__, paths
from agent.errors import AntiphonError

log = logging.getLogger("antiphon")

Handler = Callable[[argparse.Namespace], int]


def _add_chunking_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chunking (times in seconds)")
    g.add_argument("--chunking", choices=("uniform", "onset"), default="uniform", help="uniform hops, or segments cut at the performer's onsets")
    g.add_argument("--hop-s", type=float, default=0.25, help="chunk length in uniform mode, 0.1 to 0.5 s")
    g.add_argument("--min-segment-s", type=float, default=0.1, help="onset mode: shortest segment")
    g.add_argument("--max-segment-s", type=float, default=1.0, help="onset mode: longest segment (cut there without an onset)")


def _add_perception_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("perception")
    g.add_argument("--perception", choices=("dsp", "wav2vec2"), default="dsp", help="feature backend")
    g.add_argument("--checkpoint", default=None, help="wav2vec2: local folder saved with save_pretrained (or a hub id where reachable)")
    g.add_argument("--layer", type=int, default=-1, help="wav2vec2: hidden state to pool (0 = before the first layer, -1 = last)")


def cmd_make_demo_pairs(args: argparse.Namespace) -> int:
    from agent.demo.make_pairs import DemoPairsConfig, make_demo_pairs

    config = DemoPairsConfig(pieces=None if args.all else args.pieces, seed=args.seed, sample_rate_hz=args.sample_rate_hz)
    make_demo_pairs(Path(args.out), config, soundfont=Path(args.soundfont) if args.soundfont else None, workers=args.workers)
    return 0


def cmd_build_corpus(args: argparse.Namespace) -> int:
    from agent.chunking import ChunkingConfig
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.perception import PerceptionConfig

    config = CorpusBuildConfig(
        source_stem=args.source,
        target_stem=args.target,
        chunking=ChunkingConfig(mode=args.chunking, hop_s=args.hop_s, min_segment_s=args.min_segment_s, max_segment_s=args.max_segment_s),
        perception=PerceptionConfig(backend=args.perception, checkpoint=args.checkpoint, layer=args.layer),
        codebook_size=args.codebook_size,
        seed=args.seed,
        audio_rate_hz=args.audio_rate_hz,
        length_tolerance_s=args.length_tolerance_s,
    )
    build_corpus(Path(args.pairs), Path(args.out), config, force=args.force)
    return 0


def cmd_corpus_info(args: argparse.Namespace) -> int:
    from agent.corpus.format import load_corpus
    from agent.corpus.info import format_summary, plot_corpus, summarize

    corpus = load_corpus(Path(args.corpus), with_audio=False)
    if not 0 <= args.piece < len(corpus.piece_names):
        raise AntiphonError(f"--piece must be between 0 and {len(corpus.piece_names) - 1}, got {args.piece}")
    sys.stdout.write(format_summary(corpus, summarize(corpus)) + "\n")
    png = plot_corpus(corpus, Path(args.plot) if args.plot else corpus.path / "corpus-info.png", piece=args.piece)
    sys.stdout.write(f"plot          {png}\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The built-in default job: render the demo pairs, build the demo corpus, show what it holds."""
    from agent.chunking import ChunkingConfig
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.demo.make_pairs import DemoPairsConfig, make_demo_pairs

    make_demo_pairs(paths.DEMO_PAIRS_DIR, DemoPairsConfig(pieces=args.pieces))
    config = CorpusBuildConfig(source_stem="soprano", target_stem="bass", chunking=ChunkingConfig(hop_s=0.25), codebook_size=32)
    build_corpus(paths.DEMO_PAIRS_DIR, paths.DEMO_CORPUS_DIR, config, force=True)
    info = argparse.Namespace(corpus=str(paths.DEMO_CORPUS_DIR), plot=None, piece=0)
    return cmd_corpus_info(info)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="antiphon", description="Antiphon: a real-time musical agent that answers a performer.", formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"antiphon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="render the demo pairs, build the demo corpus and show what it holds", formatter_class=fmt)
    p.add_argument("--pieces", type=int, default=100, help="number of chorales")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("make-demo-pairs", help="render Bach chorales (music21) to a pairs folder with fluidsynth", formatter_class=fmt)
    p.add_argument("--out", default=str(paths.DEMO_PAIRS_DIR), help="pairs folder to write (or complete: rendered pieces are cached)")
    p.add_argument("--pieces", type=int, default=100, help="number of chorales, in Riemenschneider order")
    p.add_argument("--all", action="store_true", help="every four-part chorale music21 ships (about 350)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-piece tempo and instrument choices")
    p.add_argument("--sample-rate-hz", type=int, default=22_050, help="rate of the rendered stems")
    p.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--workers", type=int, default=None, help="parallel fluidsynth processes (default: CPU count)")
    p.set_defaults(handler=cmd_make_demo_pairs)

    p = sub.add_parser("build-corpus", help="cut a pairs folder into labelled grains: the agent's memory", formatter_class=fmt)
    p.add_argument("--pairs", required=True, help="pairs folder: DIR/<piece>/<stem>.wav|flac|mp3|ogg")
    p.add_argument("--source", required=True, help="stem the performer plays (what the agent hears)")
    p.add_argument("--target", required=True, help="stem the agent answers with (what grains are cut from)")
    p.add_argument("--out", required=True, help="corpus folder to write, e.g. corpora/my-corpus")
    p.add_argument("--codebook-size", type=int, default=32, help="number of labels K (16 to 1024)")
    p.add_argument("--seed", type=int, default=0, help="k-means seed")
    p.add_argument("--audio-rate-hz", type=int, default=None, help="rate of the stored answer audio (default: the target stem's own rate)")
    p.add_argument("--length-tolerance-s", type=float, default=0.5, help="largest length difference between a piece's stems")
    p.add_argument("--force", action="store_true", help="replace an existing corpus folder")
    _add_chunking_args(p)
    _add_perception_args(p)
    p.set_defaults(handler=cmd_build_corpus)

    p = sub.add_parser("corpus-info", help="summarise a corpus and plot its labels (PNG)", formatter_class=fmt)
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--plot", default=None, help="PNG to write (default: <corpus>/corpus-info.png)")
    p.add_argument("--piece", type=int, default=0, help="index of the piece whose label timelines are plotted")
    p.set_defaults(handler=cmd_corpus_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("faiss", "faiss.loader", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    try:
        return int(args.handler(args))
    except AntiphonError as exc:
        log.error("error: %s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
