"""The `antiphon` command: one CLI, one subcommand per job. `antiphon <command> --help` for each."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from agent import __version__, paths
from agent.decision.config import DecisionConfig, LabelHeadConfig, ListenerConfig, TrainConfig
from agent.demo.pop909_config import Pop909PairsConfig as Pop909Defaults
from agent.engine.config import EngineConfig
from agent.studies.perception_comparison import KINDS, CompareConfig
from agent.perception.pretrain_config import PretrainConfig
from agent.perception.small_wav2vec2 import SmallWav2Vec2Config
from agent.errors import AntiphonError
from agent.files import invocation, check_output_place

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
    g.add_argument("--checkpoint", default=None, help="wav2vec2: local folder saved with save_pretrained (hub ids are refused: Antiphon never downloads)")
    g.add_argument("--layer", type=int, default=-1, help="wav2vec2: hidden state to pool (0 = before the first layer, -1 = last)")


def cmd_make_demo_pairs(args: argparse.Namespace) -> int:
    from agent.demo.make_pairs import DemoPairsConfig, make_demo_pairs

    check_output_place(Path(args.out))
    config = DemoPairsConfig(pieces=None if args.all else args.pieces, seed=args.seed, sample_rate_hz=args.sample_rate_hz, variants=args.variants)
    make_demo_pairs(Path(args.out), config, soundfont=Path(args.soundfont) if args.soundfont else None, workers=args.workers)
    return 0


def cmd_make_pop909_pairs(args: argparse.Namespace) -> int:
    from agent.demo.pop909 import Pop909PairsConfig, make_pop909_pairs

    check_output_place(Path(args.out))
    config = Pop909PairsConfig(songs=args.songs, seconds=args.seconds, seed=args.seed, sample_rate_hz=args.sample_rate_hz)
    make_pop909_pairs(Path(args.pop909), Path(args.out), config, soundfont=Path(args.soundfont) if args.soundfont else None, workers=args.workers)
    return 0


def cmd_build_corpus(args: argparse.Namespace) -> int:
    from agent.chunking import ChunkingConfig
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.perception import PerceptionConfig

    check_output_place(Path(args.out))
    config = CorpusBuildConfig(
        source_stem=args.source,
        target_stem=args.target,
        chunking=ChunkingConfig(mode=args.chunking, hop_s=args.hop_s, min_segment_s=args.min_segment_s, max_segment_s=args.max_segment_s),
        perception=PerceptionConfig(backend=args.perception, checkpoint=args.checkpoint, layer=args.layer),
        codebook_size=args.codebook_size,
        seed=args.seed,
        audio_rate_hz=args.audio_rate_hz,
        length_tolerance_s=args.length_tolerance_s,
        codebook_from=args.codebook_from,
        augment_source_share=args.augment_source,
    )
    build_corpus(Path(args.pairs), Path(args.out), config, force=args.force)
    return 0


def cmd_corpus_info(args: argparse.Namespace) -> int:
    from agent.corpus.format import load_corpus
    from agent.corpus.info import format_summary, plot_corpus, summarize

    if args.plot:
        check_output_place(Path(args.plot), "--plot", folder=False)
    corpus = load_corpus(Path(args.corpus), with_audio=False)
    if not 0 <= args.piece < len(corpus.piece_names):
        raise AntiphonError(f"--piece must be between 0 and {len(corpus.piece_names) - 1}, got {args.piece}")
    sys.stdout.write(format_summary(corpus, summarize(corpus)) + "\n")
    png = plot_corpus(corpus, Path(args.plot) if args.plot else corpus.path / "corpus-info.png", piece=args.piece)
    sys.stdout.write(f"plot          {png}\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The built-in default job: render the demo pairs, build the demo corpus, evaluate the shipped model."""
    from agent.chunking import ChunkingConfig
    from agent.corpus.builder import CorpusBuildConfig, build_corpus
    from agent.demo.make_pairs import DemoPairsConfig, make_demo_pairs
    from agent.perception import PerceptionConfig

    make_demo_pairs(paths.DEMO_PAIRS_DIR, DemoPairsConfig(pieces=args.pieces))
    model = paths.DEFAULT_MODEL_DIR
    shipped = (model / "config.json").is_file()
    if not shipped:
        log.warning("no shipped model in %s: the corpus gets its own codebook and no model is evaluated", model)
    perception = PerceptionConfig()  # without a shipped model: DSP features and a fitted codebook
    chunking = ChunkingConfig(hop_s=0.25)
    if shipped:
        from agent.decision.checkpoint import load_model
        from agent.model_loader import model_perception_config

        bundle = load_model(model)
        perception = model_perception_config(bundle)  # the shipped model's own (the small Wav2Vec2)
        chunking = ChunkingConfig.from_dict(bundle.corpus_meta["chunking"])  # and its hop
    config = CorpusBuildConfig(
        source_stem="soprano", target_stem="bass", chunking=chunking, codebook_size=16,
        perception=perception, codebook_from=str(model) if shipped else None,
    )
    build_corpus(paths.DEMO_PAIRS_DIR, paths.DEMO_CORPUS_DIR, config, force=True)
    cmd_corpus_info(argparse.Namespace(corpus=str(paths.DEMO_CORPUS_DIR), plot=None, piece=0))
    if not shipped:
        return 0
    sys.stdout.write(f"\nheld-out evaluation of the shipped decision model {model.name}:\n")
    cmd_evaluate(
        argparse.Namespace(
            model=str(model), pairs=str(paths.DEMO_PAIRS_DIR), source="soprano", target="bass", corpus=str(paths.DEMO_CORPUS_DIR),
            compare=None, all_pieces=False, out=str(paths.OUT_DIR / "demo-evaluation"), seed=0, no_listening=False, update_card=False, augment_performer=None,
        )
    )
    from agent.engine.agent import AnswerAgent, load_agent_parts
    from agent.pairs import read_heldout

    piece = sorted(read_heldout(paths.DEMO_PAIRS_DIR))[0]
    take = next((paths.DEMO_PAIRS_DIR / piece).glob("soprano.*"))
    sys.stdout.write(f"\nrehearsal: the agent answers the soprano of held-out piece {piece} (its own bass kept out of the corpus):\n")
    bundle, corpus, perception = load_agent_parts(model, paths.DEMO_CORPUS_DIR)
    return _rehearse(AnswerAgent(bundle, corpus, perception, EngineConfig(), exclude_pieces=(piece,)), take, paths.OUT_DIR / "demo-rehearsal")


def _invocation() -> str:
    return invocation()


def cmd_pretrain_perception(args: argparse.Namespace) -> int:
    from agent.perception.model_card import write_perception_card
    from agent.perception.pretrain import pretrain

    check_output_place(Path(args.out))
    arch = SmallWav2Vec2Config(conv_channels=args.conv_channels, hidden_size=args.hidden_size, num_layers=args.layers,
                               num_heads=args.heads, ffn_size=args.ffn_size)
    config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, crop_s=args.crop_s, learning_rate=args.lr,
                            warmup_steps=args.warmup_steps, threads=args.threads, seed=args.seed, augment_prob=args.augment_prob)
    out = pretrain(Path(args.pairs), Path(args.out), arch, config, resume=args.resume, force=args.force, command=_invocation())
    card = write_perception_card(out)
    sys.stdout.write(f"pretrained encoder  {out}\nmodel card          {card}\nloss curves         {out / 'loss.png'}\n")
    return 0


def cmd_compare_perception(args: argparse.Namespace) -> int:
    from agent.files import write_json
    from agent.perception.model_card import markdown_table
    from agent.studies.perception_comparison import compare_backends, verdicts
    from agent.perception.model_card import COMPARISON_FILE, write_perception_card

    check_output_place(Path(args.work), "--work")
    folder = Path(args.perception)
    config = CompareConfig(hop_s=args.hop_s, codebook_size=args.codebook_size, layer=args.layer, seed=args.seed)
    results = compare_backends(Path(args.pairs), folder, Path(args.work), config, tuple(args.kinds))
    notes = verdicts(results)
    sys.stdout.write(markdown_table(results) + "\n\n" + "\n".join(notes) + "\n")
    if not args.no_card:
        write_json(folder / COMPARISON_FILE, {"config": config.__dict__, "pairs": str(args.pairs), "results": results, "notes": notes})
        sys.stdout.write(f"\nmodel card          {write_perception_card(folder)}\n")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from agent.corpus.format import load_corpus
    from agent.decision.train import train

    check_output_place(Path(args.out))
    codebook = load_corpus(Path(args.corpus), with_audio=False).codebook
    shape = dict(num_layers=args.layers, width=args.width, num_heads=args.heads, ffn_width=args.ffn_width, context_chunks=args.context_chunks, dropout=args.dropout)
    if args.kind == "listener":
        ignored = [f"--{n.replace('_', '-')}" for n, default in (("answer_dropout", TrainConfig.answer_dropout), ("select_on", TrainConfig.select_on))
                   if getattr(args, n) != default]
        if ignored:
            log.warning("%s: label models only; a listener has no answer input and is selected on its validation loss", ", ".join(ignored))
        if args.anticipation_chunks != 1:
            raise AntiphonError("a listener always answers the next chunk: --anticipation-chunks must be 1")
        model_config = ListenerConfig(feature_dim=codebook.dim, num_labels=codebook.size, key_dim=args.key_dim, **shape)
    else:
        if args.negatives != TrainConfig.negatives:
            log.warning("--negatives: listeners only; a label model's softmax is over its %d labels", codebook.size)
        model_config = DecisionConfig(num_labels=codebook.size, anticipation_chunks=args.anticipation_chunks, **shape)
    config = TrainConfig(
        max_epochs=args.max_epochs, batch_size=args.batch_size, crop_chunks=args.crop_chunks, learning_rate=args.lr,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, label_weight=args.label_weight, answer_dropout=args.answer_dropout,
        patience_epochs=args.patience, select_on=args.select_on, negatives=args.negatives, default_corpus=args.default_corpus, seed=args.seed,
    )
    if config.default_corpus and not (paths.CORPORA_DIR / config.default_corpus).is_dir():
        log.warning("--default-corpus %s: %s does not exist yet; the model will need it (or --corpus) to play", config.default_corpus, paths.CORPORA_DIR / config.default_corpus)
    if args.kind == "listener":
        import os

        from agent.decision.model_card import write_listener_card
        from agent.decision.train_listener import train_listener

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise AntiphonError("the listener trains in one process (torchrun/DDP is for --kind labels)")
        out = train_listener(Path(args.corpus), Path(args.out), model_config, config, resume=args.resume, force=args.force, command=_invocation())
        card = write_listener_card(out)
        sys.stdout.write(f"listener     {out}\nmodel card   {card}\nloss curves  {out / 'loss.png'}\n"
                         f"next: antiphon evaluate --model {out} --pairs DIR --source ... --target ... --update-card (listening gain into the card)\n")
        return 0
    train(Path(args.corpus), Path(args.out), model_config, config, resume=args.resume, force=args.force, command=_invocation())
    return 0


def cmd_fit_label_head(args: argparse.Namespace) -> int:
    from agent.corpus.format import load_corpus
    from agent.decision.checkpoint import load_model
    from agent.decision.config import LabelHeadConfig
    from agent.decision.label_head import fit_label_head
    from agent.decision.model_card import label_head_card_text, set_card_section

    config = LabelHeadConfig(hidden_width=args.hidden_width, max_epochs=args.max_epochs, patience_epochs=args.patience, seed=args.seed,
                             **({"grain_mix_weights": ()} if args.no_label_mix else {}))
    bundle = load_model(Path(args.model))
    corpus = load_corpus(Path(args.corpus) if args.corpus else paths.corpus_dir_named(bundle.corpus_meta["name"]), with_audio=False)
    record = fit_label_head(bundle.path, corpus, config, command=_invocation())
    figures = f"validation accuracy {100 * record['val_accuracy_before']:.1f} % (the head it had) vs {100 * record['val_accuracy']:.1f} % refitted on {record['corpus']}"
    sys.stdout.write(f"label head   {figures}: " + (f"replaced (epoch {record['best_epoch']})\n" if record["replaced"] else "not better, kept\n"))
    mix = record.get("grain_mix")
    if mix:
        sys.stdout.write(f"label mix    validation accuracy {100 * mix['val_accuracy_head_alone']:.2f} % (head alone) vs {100 * mix['val_accuracy']:.2f} % "
                         + (f"with the grains (weight {mix['weight']:g}, temperature {mix['temperature']:g}): kept\n" if mix["kept"] else "best mix: not better, head alone\n"))
    if not record["changed"]:
        sys.stdout.write("the model is unchanged\n")
        return 0
    card = set_card_section(bundle.path / "README.md", "Label head", label_head_card_text(record["written"]))
    plot = f"plot         {bundle.path / 'label_head.png'}\n" if record["replaced"] else ""
    sys.stdout.write(f"model card   {card}\n{plot}"
                     f"next: antiphon evaluate --model {bundle.path} ... --update-card (label accuracy; the grain choices are unchanged)\n")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from agent.corpus.format import load_corpus
    from agent.decision.checkpoint import check_model_fits_corpus, load_model
    from agent.decision.data import step_sequence
    from agent.decision.evaluate import TrainingCounts, best_trivial, evaluate, format_table, write_report
    from agent.decision.pairs_labels import label_pairs
    from agent.model_loader import model_perception
    from agent.decision.train import corpus_sequences
    from agent.playback.grain_selection import GrainSelector
    from agent.pairs import renderings_of

    if args.update_card and (args.no_listening or args.all_pieces):
        raise AntiphonError("--update-card writes the held-out figures into the card: it cannot go with --no-listening or --all-pieces")
    check_output_place(Path(args.out) if args.out else Path(args.model) / f"eval-{Path(args.pairs).name}")
    bundle = load_model(Path(args.model))
    listen = not args.no_listening
    corpus = load_corpus(Path(args.corpus) if args.corpus else bundle.default_corpus_dir, with_audio=listen)
    check_model_fits_corpus(bundle, corpus)
    c = bundle.config

    def sequences_of(b, labelled) -> list:
        return [step_sequence(lp.name, lp.source_labels, lp.target_labels, b.config.anticipation_chunks, b.config.start_token) for lp in labelled]

    labelled = label_pairs(bundle, model_perception(bundle), Path(args.pairs), args.source, args.target, all_pieces=args.all_pieces,
                           augment_seed=args.augment_performer)
    sequences = sequences_of(bundle, labelled)
    excluded = renderings_of([s.name for s in sequences], corpus.piece_names)  # every rendering of an evaluated piece's work
    train_pieces = [i for i in range(len(corpus.piece_names)) if corpus.piece_split(i) != "heldout" and i not in excluded]
    counts = TrainingCounts.from_sequences(corpus_sequences(corpus, train_pieces, c), c.num_labels)
    # as live; labels only: no grain is chosen
    selector = GrainSelector.from_corpus(corpus, exclude_pieces=excluded, taboo_grains=EngineConfig.taboo_grains) if listen else None
    extra = {}
    if args.compare:
        other = load_model(Path(args.compare))
        if other.kind != "labels":
            raise AntiphonError(f"--compare takes a label model; {other.path} is a {other.kind}")
        extra[f"compare:{other.path.name}"] = (other.model, sequences_of(other, label_pairs(other, model_perception(other), Path(args.pairs), args.source, args.target, all_pieces=args.all_pieces,
                                                                                      augment_seed=args.augment_performer)))
    predictions, model_grains, runs = None, None, None
    if bundle.kind == "listener" and listen:
        from agent.decision.listener_decisions import listener_decisions

        predictions, model_grains, runs = listener_decisions(bundle, corpus, [lp.take for lp in labelled], selector)
    elif bundle.kind == "listener":  # labels only: no grain is chosen (grains scored only for a label mix)
        from agent.decision.listener_decisions import listener_labels

        predictions = listener_labels(bundle, corpus, [lp.take for lp in labelled], ~np.isin(corpus.grains.piece, list(excluded)))
    results = evaluate(bundle.model, sequences, counts, selector=selector, seed=args.seed, extra_models=extra, model_predictions=predictions)
    if runs is not None:
        results[0].grain_run, results[0].fallback_rate = runs, 0.0
    out = Path(args.out) if args.out else bundle.path / f"eval-{Path(args.pairs).name}"
    report: dict = {"model": str(bundle.path), "pairs": str(args.pairs), "source": args.source, "target": args.target}
    if args.augment_performer is not None:
        from agent.audio_augment import AugmentConfig

        report["performer_heard_through"] = {"seed": args.augment_performer, "chain": AugmentConfig().to_dict()}
    table = None
    if listen:
        from agent.decision.listening_rows import listening_answers
        from agent.listening.answers import format_listening, listening_json, listening_table
        from agent.listening.tracks import ListeningConfig

        answers = listening_answers(corpus, labelled, results, excluded, model_grains=model_grains)
        config = ListeningConfig()
        table = listening_table([lp.take for lp in labelled], answers, corpus.audio_rate_hz, config)
        report["listening"] = listening_json(table, config)
    json_path, png_path = write_report(results, sequences, c.num_labels, out, report)
    fr = next(r for r in results if r.method == "model" and r.mode == "free-running")
    trivial = best_trivial(results)
    sys.stdout.write(format_table(results) + "\n\n")
    sys.stdout.write(f"{len(sequences)} pieces, {sum(len(s) for s in sequences)} chunks; free-running accuracy {100 * fr.accuracy:.1f} % = "
                     f"{fr.accuracy / max(trivial.accuracy, 1e-9):.2f}x the best trivial baseline ({trivial.method}, {100 * trivial.accuracy:.1f} %)\n")
    if table is not None:
        from agent.decision.model_card import set_card_section
        from agent.listening.plot import plot_listening

        listening_png = plot_listening(table, out / "listening.png")
        sys.stdout.write("\ndoes it listen? each answer under its own performer vs under the other held-out pieces' (gain = the difference)\n")
        sys.stdout.write(format_listening(table) + "\n")
        sys.stdout.write(f"listening plot {listening_png}\n")
        if args.update_card and args.augment_performer is not None:  # its own section: the clean figures stay
            from agent.listening.answers import markdown_listening

            card = set_card_section(bundle.path / "README.md", "Heard through a room (held-out audio)", "\n".join([
                "The same evaluation with each held-out performer heard through a random room, EQ, noise and gain",
                f"(`antiphon evaluate ... --augment-performer {args.augment_performer}`, chains seeded per piece; `agent/audio_augment.py`):",
                "the model hears the augmented take, the fit is measured against the clean one.",
                "",
                markdown_listening(table),
            ]))
            sys.stdout.write(f"model card     {card}\n")
        elif args.update_card:
            from agent.decision.evaluate import markdown_table

            lookup = next(r for r in results if r.method.startswith("lookup"))
            labels_text = (
                f"{len(sequences)} held-out pieces, {sum(len(s) for s in sequences)} chunks. Free-running label accuracy "
                f"**{100 * fr.accuracy:.1f} %** = {fr.accuracy / max(trivial.accuracy, 1e-9):.2f}x the best trivial baseline "
                f"({trivial.method}) and {fr.accuracy / max(lookup.accuracy, 1e-9):.2f}x the lookup table.\n\n" + markdown_table(results)
            )
            card = set_card_section(bundle.path / "README.md", "Held-out evaluation", labels_text)
            set_card_section(card, "Listening (held-out audio)", _listening_card_text(table, args))
            sys.stdout.write(f"model card     {card}\n")
    sys.stdout.write(f"report        {json_path}\nplot          {png_path}\n")
    return 0


def _listening_card_text(table: dict, args: argparse.Namespace) -> str:
    from agent.listening.answers import markdown_listening

    return "\n".join([
        f"From `antiphon evaluate --pairs {Path(args.pairs).name} --source {args.source} --target {args.target}` on the held-out pieces,",
        "free-running and causal as live (greedy: temperature 0; the engine's taboo of the last",
        f"{EngineConfig.taboo_grains} grains), each answer rendered from the corpus (the evaluated pieces' own",
        "grains excluded) where the live agent plays it (a decision made after chunk t sounds at chunk t+1),",
        "and pitch-tracked (pYIN). *Consonance*: share of consonant intervals (classes",
        "0 3 4 7 8 9) in frames where both sound; *onset F*: the answer's onsets against the performer's",
        "(+-50 ms). Each answer is scored under its own performer (matched) and under every other held-out",
        "performer; the *gain* is the difference: an answer that ignores its input scores about 0.",
        "Oracle rows use the true answer (hindsight) to show where the relation is lost. Plot: `listening.png`.",
        "",
        markdown_listening(table),
    ])


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    """The playing settings' options, from their declarations in agent/engine/config.py."""
    from agent.engine.config import cli_flag, field_type, setting_fields, spec_of

    g = p.add_argument_group("playing")
    for f in setting_fields():
        spec = spec_of(f)
        if spec.cli:
            g.add_argument(cli_flag(f), dest=f.name, type=field_type(f), default=f.default, help=f"{spec.help}; {spec.range_text()}")


def _engine_config(args: argparse.Namespace) -> EngineConfig:
    from agent.engine.config import setting_fields, spec_of

    return EngineConfig(**{f.name: getattr(args, f.name) for f in setting_fields() if spec_of(f).cli})


LIVE_ARRANGE_RATE_HZ = 48_000  # `arrange --live` renders at a sound card's rate


def cmd_arrange_live(args: argparse.Namespace) -> int:
    """`arrange --live`: the live arranger agent rehearsed on the file (agent/engine/arranger_rehearsal.py)."""
    from agent.engine.arranger_agent import ArrangerConfig, load_arranger
    from agent.engine.arranger_rehearsal import rehearse_arranger
    from agent.engine.config import EngineConfig

    if args.note_harmoniser is not None and args.note_harmoniser.lower() != "none":
        raise AntiphonError("--note-harmoniser is for the offline arranger: the live agent names chords from the chords model's frames")
    arranger = ArrangerConfig(mode=args.mode, program=args.program, tempo_bpm=args.tempo_bpm)
    agent = load_arranger(arranger, EngineConfig(seed=args.seed), LIVE_ARRANGE_RATE_HZ, chords=args.chords_model, beats=args.beats_model,
                          texture=args.texture_model)
    report = rehearse_arranger(agent, Path(args.input), Path(args.out))
    out = Path(args.out)
    bars = report["bars"]
    sys.stdout.write(f"{len(bars)} bars decided live (the first at {bars[0]['start_s']:.1f} s, at least "
                     f"{min(b['decided_ahead_ms'] for b in bars):.0f} ms ahead), {report['notes']} notes, "
                     f"{report['speed_x_realtime']}x real time\n"
                     f"midi         {out / 'arrangement.mid'}\naudio        {out / 'arrangement.wav'}\nmix          {out / 'mix.wav'}\n"
                     f"report       {out / 'arrangement.json'}\n")
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    from agent.engine.agent import AnswerAgent, load_agent_parts

    from agent.audio_io import audio_info
    from agent.listening.take_process import TakeListening

    config = _engine_config(args)  # refuse bad settings before loading anything
    check_output_place(Path(args.out))
    audio_info(Path(args.input))  # a missing or unreadable take is refused before anything starts
    listening = TakeListening.start(Path(args.input))  # analyses the take on the other core meanwhile
    try:
        bundle, corpus, perception = load_agent_parts(Path(args.model), Path(args.corpus) if args.corpus else None)
        agent = AnswerAgent(bundle, corpus, perception, config, exclude_pieces=tuple(args.exclude_piece))
    except BaseException:
        listening.cancel()
        raise
    return _rehearse(agent, Path(args.input), Path(args.out), listening)


def _rehearse(agent, take: Path, out: Path, listening=None) -> int:  # noqa: ANN001 - AnswerAgent, TakeListening
    from agent.engine.rehearsal import rehearse_file

    report = rehearse_file(agent, take, out, listening)
    result = report.result
    compute = np.array([s.compute_s for s in result.steps]) * 1e3
    sys.stdout.write(
        f"rehearsed {result.input_s:.1f} s in {result.wall_s:.2f} s ({result.speed_x_realtime:.0f}x real time): {len(result.steps)} chunks, "
        f"compute mean {compute.mean():.2f} ms p99 {np.percentile(compute, 99):.2f} ms, fallbacks {sum(s.fallback for s in result.steps)}\n"
    )
    for name, label in (("consonance", "consonant share"), ("onset_f", "onset F-measure")) if report.listening else ():
        f = report.listening[name]
        if f["matched"] is not None:
            other = "n/a" if f["performer_shifted_half_take"] is None else f"{f['performer_shifted_half_take']:.3f}"
            sys.stdout.write(f"listening: {label} {f['matched']:.3f} under the take, {other} under the take shifted by half\n")
    sys.stdout.write(f"wrote {out}/answer.wav, mix-stereo.wav, mix.wav, trace.json, trace.png\n")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    import sounddevice as sd

    sys.stdout.write(f"{sd.query_devices()}\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: every thread's stack to stderr
    # Ctrl-C and kill stop the server cleanly (recordings finalised), even when it was started in the
    # background by a script, where the shell makes it ignore SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from agent.engine.live import StreamSettings
    from agent.engine.voice import VoiceSpec
    from agent.serving import AgentSpec, build_engine, parse_agent_spec, run

    config = _engine_config(args)  # refuse bad settings before loading anything
    if args.trace_dir:
        check_output_place(Path(args.trace_dir), "--trace-dir")
    if args.allow_record and not args.no_osc:
        check_output_place(Path(args.record_dir), "--record-dir")
    if args.allow_loops and not args.no_osc:
        check_output_place(Path(args.loops_dir), "--loops-dir")
    if args.agent:
        specs = [parse_agent_spec(text) for text in args.agent]
    else:
        specs = [AgentSpec(VoiceSpec("answer", args.input_channel, args.output_channel), Path(args.model), Path(args.corpus) if args.corpus else None)]
    settings = StreamSettings(
        device=int(args.device) if args.device and args.device.isdigit() else args.device, sample_rate_hz=args.sample_rate_hz,
        block_frames=args.block_frames, channels=args.channels,
    )
    engine = build_engine(specs, config, settings, keep_trace=args.trace_dir is not None)
    osc = None if args.no_osc else {
        "host": args.osc_host, "port": args.osc_port, "reply_port": args.reply_port or None,
        "record_dir": Path(args.record_dir) if args.allow_record else None, "allow_quit": args.allow_quit,
        "allowed_dirs": (*map(Path, args.allow_dir), Path(args.record_dir)),
        "loop_model": Path(args.loop_model) if args.allow_loops else None, "loops_dir": Path(args.loops_dir) if args.allow_loops else None,
    }
    run(engine, osc, answering=not args.wait_for_start, duration_s=args.duration_s, status_every_s=args.status_every_s,
        trace_dir=Path(args.trace_dir) if args.trace_dir else None)
    return 0


def cmd_osc_patches(args: argparse.Namespace) -> int:
    from agent.osc.patches import write_patches

    check_output_place(Path(args.out))
    for path in write_patches(Path(args.out)):
        log.info("wrote %s", path)
    return 0


def cmd_osc_table(args: argparse.Namespace) -> int:
    from agent.osc.table import markdown

    sys.stdout.write(markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="antiphon", description="Antiphon: a real-time musical agent that answers a performer.", formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"antiphon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="render the demo pairs, build the demo corpus, evaluate the shipped model on held-out pieces", formatter_class=fmt)
    p.add_argument("--pieces", type=int, default=100, help="number of chorales")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("make-demo-pairs", help="render Bach chorales (music21) to a pairs folder with fluidsynth", formatter_class=fmt)
    p.add_argument("--out", default=str(paths.DEMO_PAIRS_DIR), help="pairs folder to write (or complete: rendered pieces are cached)")
    p.add_argument("--pieces", type=int, default=100, help="number of chorales, in Riemenschneider order")
    p.add_argument("--all", action="store_true", help="every four-part chorale music21 ships (328)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-piece tempo and instrument choices")
    p.add_argument("--variants", type=int, default=1,
                   help="renderings per chorale: the written one, then ones transposed -5..+6 semitones with other instruments (NNN-bwv@v1, ...)")
    p.add_argument("--sample-rate-hz", type=int, default=22_050, help="rate of the rendered stems")
    p.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--workers", type=int, default=None, help="parallel fluidsynth processes (default: CPU count)")
    p.set_defaults(handler=cmd_make_demo_pairs)

    p = sub.add_parser("make-pop909-pairs", help="render POP909 songs (melody -> piano) to a pairs folder with fluidsynth", formatter_class=fmt)
    p.add_argument("--pop909", required=True, help="the dataset's POP909 folder (NNN/NNN.mid), from its public repository music-x-lab/POP909-Dataset")
    p.add_argument("--out", default=str(paths.CORPORA_DIR / "pop909-pairs"), help="pairs folder to write (or complete: rendered songs are cached)")
    p.add_argument("--songs", type=int, default=Pop909Defaults.songs, help="the first N songs (in folder order)")
    p.add_argument("--seconds", type=float, default=Pop909Defaults.seconds, help="length rendered of each song, from its first melody note")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-song instruments and transposition (-3..+3 semitones)")
    p.add_argument("--sample-rate-hz", type=int, default=22_050, help="rate of the rendered stems")
    p.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--workers", type=int, default=None, help="parallel fluidsynth processes (default: CPU count)")
    p.set_defaults(handler=cmd_make_pop909_pairs)

    p = sub.add_parser("build-corpus", help="cut a pairs folder into labelled grains: the agent's memory", formatter_class=fmt)
    p.add_argument("--pairs", required=True, help="pairs folder: DIR/<piece>/<stem>.wav|flac|mp3|ogg")
    p.add_argument("--source", required=True, help="stem the performer plays (what the agent hears)")
    p.add_argument("--target", required=True, help="stem the agent answers with (what grains are cut from)")
    p.add_argument("--out", required=True, help="corpus folder to write, e.g. corpora/my-corpus")
    p.add_argument("--codebook-size", type=int, default=32, help="number of labels K (16 to 1024)")
    p.add_argument("--seed", type=int, default=0, help="k-means seed")
    p.add_argument("--audio-rate-hz", type=int, default=None, help="rate of the stored answer audio (default: the target stem's own rate)")
    p.add_argument("--length-tolerance-s", type=float, default=0.5, help="largest length difference between a piece's stems")
    p.add_argument("--codebook-from", default=None, help="reuse the codebook of this model or corpus folder instead of fitting one (so an existing model fits the new corpus)")
    p.add_argument("--augment-source", type=float, default=0.0, metavar="SHARE",
                   help="hear this share of the pieces' source through a random room, EQ, noise and gain (seeded by --seed; the answer grains stay clean)")
    p.add_argument("--force", action="store_true", help="replace an existing corpus folder")
    _add_chunking_args(p)
    _add_perception_args(p)
    p.set_defaults(handler=cmd_build_corpus)

    p = sub.add_parser("corpus-info", help="summarise a corpus and plot its labels (PNG)", formatter_class=fmt)
    p.add_argument("corpus", help="corpus folder")
    p.add_argument("--plot", default=None, help="PNG to write (default: <corpus>/corpus-info.png)")
    p.add_argument("--piece", type=int, default=0, help="index of the piece whose label timelines are plotted")
    p.set_defaults(handler=cmd_corpus_info)

    p = sub.add_parser("pretrain-perception", help="pretrain Antiphon's small Wav2Vec2 (self-supervised) on every stem of a pairs folder", formatter_class=fmt)
    p.add_argument("--pairs", default=str(paths.DEMO_PAIRS_DIR), help="pairs folder (held-out pieces in split.json are never used)")
    p.add_argument("--out", default=str(paths.DEFAULT_PERCEPTION_DIR), help="folder to write the encoder, card and curves into")
    p.add_argument("--steps", type=int, default=PretrainConfig.steps, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=PretrainConfig.batch_size, help="crops per step")
    p.add_argument("--crop-s", type=float, default=PretrainConfig.crop_s, help="length of each crop")
    p.add_argument("--lr", type=float, default=PretrainConfig.learning_rate, help="peak learning rate (AdamW)")
    p.add_argument("--warmup-steps", type=int, default=PretrainConfig.warmup_steps, help="linear warm-up steps")
    p.add_argument("--conv-channels", type=int, default=SmallWav2Vec2Config.conv_channels, help="channels of the convolutional feature encoder")
    p.add_argument("--hidden-size", type=int, default=SmallWav2Vec2Config.hidden_size, help="Transformer width")
    p.add_argument("--layers", type=int, default=SmallWav2Vec2Config.num_layers, help="Transformer layers")
    p.add_argument("--heads", type=int, default=SmallWav2Vec2Config.num_heads, help="attention heads")
    p.add_argument("--ffn-size", type=int, default=SmallWav2Vec2Config.ffn_size, help="feed-forward width")
    p.add_argument("--threads", type=int, default=PretrainConfig.threads, help="torch threads")
    p.add_argument("--augment-prob", type=float, default=PretrainConfig.augment_prob,
                   help="share of crops heard through a random room, EQ, noise and gain; the targets stay clean (0: none)")
    p.add_argument("--seed", type=int, default=PretrainConfig.seed, help="seed of the initial weights, crops, masks and dropout")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint/ folder of --out")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.set_defaults(handler=cmd_pretrain_perception)

    p = sub.add_parser("compare-perception", help="pretrained vs random-weight Wav2Vec2 vs DSP: decision accuracy, pitch-class purity, compute", formatter_class=fmt)
    p.add_argument("--pairs", default=str(paths.DEMO_PAIRS_DIR), help="pairs folder with score.json per piece (the demo pairs)")
    p.add_argument("--perception", default=str(paths.DEFAULT_PERCEPTION_DIR), help="the pretrained encoder folder (its card gets the table)")
    p.add_argument("--work", default=str(paths.OUT_DIR / "compare-perception"), help="folder for the corpora and models built on the way")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="backends to compare")
    p.add_argument("--hop-s", type=float, default=CompareConfig.hop_s, help="chunk hop")
    p.add_argument("--codebook-size", type=int, default=CompareConfig.codebook_size, help="labels K of every corpus")
    p.add_argument("--layer", type=int, default=CompareConfig.layer, help="Wav2Vec2 hidden state used as features (0 was chosen on training pieces by pitch-class purity)")
    p.add_argument("--seed", type=int, default=CompareConfig.seed, help="seed of k-means, training and the random-weight encoder")
    p.add_argument("--no-card", action="store_true", help="print only; leave the encoder folder as it is")
    p.set_defaults(handler=cmd_compare_perception)

    p = sub.add_parser("train", help="train the decision Transformer on a corpus (works under torchrun for DDP)", formatter_class=fmt)
    p.add_argument("--corpus", required=True, help="corpus folder (from build-corpus)")
    p.add_argument("--out", required=True, help="model folder to write, e.g. models/my-model")
    p.add_argument("--resume", action="store_true", help="continue the training saved in <out>/checkpoint")
    p.add_argument("--force", action="store_true", help="replace an existing model folder")
    g = p.add_argument_group("model")
    g.add_argument("--kind", choices=("listener", "labels"), default="listener",
                   help="listener: scores every grain from the performer's features (keeps pitch); labels: the label-sequence Transformer of the paper")
    g.add_argument("--key-dim", type=int, default=ListenerConfig.key_dim, help="listener: size of the grain keys and queries")
    g.add_argument("--layers", type=int, default=DecisionConfig.num_layers, help="Transformer layers")
    g.add_argument("--width", type=int, default=DecisionConfig.width, help="model width")
    g.add_argument("--heads", type=int, default=DecisionConfig.num_heads, help="attention heads")
    g.add_argument("--ffn-width", type=int, default=DecisionConfig.ffn_width, help="feed-forward width")
    g.add_argument("--context-chunks", type=int, default=DecisionConfig.context_chunks, help="attention window in chunks (64 x 0.25 s hop = 16 s)")
    g.add_argument("--dropout", type=float, default=DecisionConfig.dropout, help="dropout")
    g.add_argument("--anticipation-chunks", type=int, default=DecisionConfig.anticipation_chunks, choices=(0, 1), help="1: predict the answer for the next chunk (live); 0: for the current chunk (offline)")
    g = p.add_argument_group("training")
    g.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs, help="upper bound on epochs")
    g.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="crops per batch (per process)")
    g.add_argument("--crop-chunks", type=int, default=TrainConfig.crop_chunks, help="length of the random training crops, in chunks")
    g.add_argument("--lr", type=float, default=TrainConfig.learning_rate, help=f"AdamW learning rate (after a {TrainConfig.warmup_steps}-step warm-up)")
    g.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay, help="AdamW weight decay")
    g.add_argument("--label-smoothing", type=float, default=TrainConfig.label_smoothing, help="label smoothing of the cross-entropy")
    g.add_argument("--label-weight", type=float, default=TrainConfig.label_weight,
                   help="listener: weight of the next-label cross-entropy beside the grain loss")
    g.add_argument("--answer-dropout", type=float, default=TrainConfig.answer_dropout, help="share of previous-answer inputs replaced by random labels")
    g.add_argument("--patience", type=int, default=TrainConfig.patience_epochs, help="early stopping: epochs without validation improvement")
    g.add_argument("--select-on", choices=("free-running", "loss"), default=TrainConfig.select_on, help="validation figure that picks the kept epoch and drives early stopping")
    g.add_argument("--negatives", type=int, default=TrainConfig.negatives,
                   help="listener: grains scored per batch when the corpus holds more (a uniform sample plus the targets; 0 = all)")
    g.add_argument("--default-corpus", default=TrainConfig.default_corpus, metavar="NAME",
                   help="corpora/NAME the model plays when no corpus is named (default: the training corpus), e.g. a smaller corpus with the same codebook")
    g.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed (split, crops, init, dropout)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("fit-label-head", help="refit a listener's next-label head (an MLP) on a frozen trunk over a corpus's training pieces", formatter_class=fmt)
    p.add_argument("--model", required=True, help="listener folder (rewritten in place: weights, config.json, card)")
    p.add_argument("--corpus", default=None, help="corpus whose labels the head learns (same codebook; default: the corpus the model was trained on)")
    p.add_argument("--hidden-width", type=int, default=LabelHeadConfig.hidden_width, help="width of the head's hidden layer")
    p.add_argument("--max-epochs", type=int, default=LabelHeadConfig.max_epochs, help="epochs at most")
    p.add_argument("--patience", type=int, default=LabelHeadConfig.patience_epochs, help="stop after this many epochs without a better validation accuracy")
    p.add_argument("--seed", type=int, default=LabelHeadConfig.seed, help="seed of the head's initialisation and batch order (the split is the model's own)")
    p.add_argument("--no-label-mix", action="store_true",
                   help="do not fit the label mix with the grain scores (the head alone reports the label; weight 0)")
    p.set_defaults(handler=cmd_fit_label_head)

    p = sub.add_parser("evaluate", help="held-out accuracy of a decision model against baselines (table, JSON, PNG)", formatter_class=fmt)
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--pairs", required=True, help="pairs folder; its split.json names the held-out pieces")
    p.add_argument("--source", required=True, help="performer stem")
    p.add_argument("--target", required=True, help="answer stem")
    p.add_argument("--corpus", default=None, help="the model's corpus (grain memory for run/fallback metrics; default corpora/<its name>)")
    p.add_argument("--compare", default=None, help="another model folder to evaluate on the same pieces (e.g. one with DSP perception)")
    p.add_argument("--all-pieces", action="store_true", help="evaluate every piece, not only the held-out ones")
    p.add_argument("--out", default=None, help="report folder (default <model>/eval-<pairs name>)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    p.add_argument("--no-listening", action="store_true", help="labels only: skip choosing grains (grain run, fallback) and rendering and pitch-tracking the answers (listening gain)")
    p.add_argument("--augment-performer", type=int, default=None, metavar="SEED",
                   help="hear each held-out performer through a random room, EQ, noise and gain (seeded per piece); the fit is measured against the clean take")
    p.add_argument("--update-card", action="store_true", help="write the listening table into the model card (README.md)")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("rehearse", help="answer a recorded take on a file clock: answer, mixes, trace JSON and PNG", formatter_class=fmt)
    p.add_argument("--input", required=True, help="the performer's take (any audio file, any rate or channel count)")
    p.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR), help="decision model folder")
    p.add_argument("--corpus", default=None, help="corpus folder (default corpora/<the model's corpus name>)")
    p.add_argument("--out", default=str(paths.OUT_DIR / "rehearsal"), help="folder for the results")
    p.add_argument("--exclude-piece", action="append", default=[], metavar="NAME",
                   help="never play this corpus piece (the take's own piece, when the corpus holds it); repeatable")
    _add_engine_args(p)
    p.set_defaults(handler=cmd_rehearse)

    p = sub.add_parser("devices", help="list audio devices (sounddevice / PortAudio)", formatter_class=fmt)
    p.set_defaults(handler=cmd_devices)

    p = sub.add_parser("serve", help="live: listen to the input device and answer on the output device", formatter_class=fmt)
    p.add_argument("--model", default=str(paths.DEFAULT_MODEL_DIR), help="decision model folder")
    p.add_argument("--corpus", default=None, help="corpus folder (default corpora/<the model's corpus name>)")
    p.add_argument("--device", default=None, help="device name or index for input and output (see `antiphon devices`)")
    p.add_argument("--sample-rate-hz", type=int, default=48_000, help="stream rate (the corpus audio is resampled to it once)")
    p.add_argument("--block-frames", type=int, default=256, help="frames per callback: with --output-lead-ms, the latency knob")
    p.add_argument("--channels", type=int, default=1, help="channels opened on input and output")
    p.add_argument("--input-channel", type=int, default=0, help="input channel the performer is on (0-based)")
    p.add_argument("--output-channel", type=int, default=0, help="output channel the answer goes to (0-based)")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--status-every-s", type=float, default=2.0, help="seconds between status lines")
    p.add_argument("--trace-dir", default=None, help="on stop, write live-trace.json and heard.wav (the 16 kHz input as heard) here")
    p.add_argument("--agent", action="append", default=[], metavar="name=N,model=DIR,corpus=DIR,in=CH,out=CH",
                   help="an agent (repeatable; replaces --model/--corpus/--input-channel/--output-channel); OSC addresses /antiphon/N/...")
    p.add_argument("--wait-for-start", action="store_true", help="agents stay silent until /antiphon/<agent>/start")
    g = p.add_argument_group("OSC (see docs/osc.md)")
    g.add_argument("--osc-host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    g.add_argument("--osc-port", type=int, default=7400, help="UDP port to listen on")
    g.add_argument("--reply-port", type=int, default=7401, help="UDP port on 127.0.0.1 that gets status, events and errors (0: only registered ports)")
    g.add_argument("--record-dir", default=str(paths.RECORDINGS_DIR), help="folder of /antiphon/<agent>/record files (with --allow-record)")
    g.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                   help="a folder whose models, corpora and audio files OSC may load (repeatable), besides corpora/, models/ and --record-dir; "
                        "any other path is answered as missing")
    g.add_argument("--allow-quit", action="store_true", help="let /antiphon/quit stop the server (else refused: any local process can send it)")
    g.add_argument("--allow-record", action="store_true", help="let /antiphon/<agent>/record write into --record-dir (else refused)")
    g.add_argument("--allow-loops", action="store_true", help="let /antiphon/loops/generate make loops into --loops-dir in a background worker (else refused)")
    g.add_argument("--loop-model", default=str(paths.DEFAULT_LOOP_DIFFUSION_DIR), help="loop diffusion model of /antiphon/loops/generate (loaded on the first request)")
    g.add_argument("--loops-dir", default=str(paths.OUT_DIR / "loops"), help="folder /antiphon/loops/generate writes into (one subfolder per request; /input may play them)")
    g.add_argument("--no-osc", action="store_true", help="audio only, no OSC server")
    _add_engine_args(p)
    p.set_defaults(handler=cmd_serve)

    from agent.arranger import cli_commands, texture_cli
    from agent.loops import cli_commands as loop_commands

    cli_commands.add_parsers(sub, fmt, live_arrange=cmd_arrange_live)
    texture_cli.add_parsers(sub, fmt)
    loop_commands.add_parsers(sub, fmt)

    p = sub.add_parser("osc-table", help="print the OSC address table as Markdown (docs/osc.md is its output)", formatter_class=fmt)
    p.set_defaults(handler=cmd_osc_table)

    p = sub.add_parser("osc-patches", help="write the Max package and the Pure Data abstraction folder (abstractions, help patches, "
                                           "refpage, overview, READMEs) from the OSC address table", formatter_class=fmt)
    p.add_argument("--out", default=str(paths.MAXPATCHES_DIR),
                   help="folder that gets README.md, antiphon/ (the Max package) and pd/antiphon/ (the Pd abstraction folder)")
    p.set_defaults(handler=cmd_osc_patches)
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
