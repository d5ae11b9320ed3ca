"""The arranger's data, chord and beat commands of the `antiphon` CLI (registered by agent/cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from agent import paths
from agent.arranger.frame_config import HEARS, FrameModelConfig, FrameTrainConfig, SpectrumConfig
from agent.arranger.note_harmoniser_config import NoteHarmoniserConfig, NoteHarmoniserTrainConfig
from agent.arranger.song_set import SongSetConfig
from agent.cli_types import count
from agent.errors import AntiphonError

DEFAULT_SONG_SET = paths.CORPORA_DIR / "pop909-songs"


def cmd_make_song_set(args: argparse.Namespace) -> int:
    from agent.arranger.song_set import make_song_set
    from agent.files import check_output_place

    check_output_place(Path(args.out))
    config = SongSetConfig(songs=args.songs, seconds=args.seconds, variants=args.variants, seed=args.seed, sample_rate_hz=args.sample_rate_hz)
    names = make_song_set(Path(args.pop909), Path(args.out), config, soundfont=Path(args.soundfont) if args.soundfont else None, workers=args.workers)
    sys.stdout.write(f"song set     {args.out} ({len(names)} renderings: mix.flac, melody.flac, score.json each)\n")
    return 0


def cmd_make_chorale_songs(args: argparse.Namespace) -> int:
    from agent.arranger.chorale_songs import make_chorale_songs
    from agent.files import check_output_place

    check_output_place(Path(args.out))
    names = make_chorale_songs(Path(args.out), bpm=args.bpm, count=args.count or None)
    sys.stdout.write(f"chorale songs {args.out} ({len(names)} in 4/4: NNN.mid, beat_midi.txt, chord_midi.txt each; "
                     f"render them with `antiphon make-song-set --pop909 {args.out} --out corpora/chorale-songs --seconds 0`)\n")
    return 0


HOP_SAMPLES = {"chords": 2048, "beats": 1024}  # frames of 93 ms for chords, 46 ms for beats (at 22050 Hz)


def cmd_train_frames(args: argparse.Namespace) -> int:
    from agent.arranger.frame_card import write_frame_card
    from agent.arranger.frame_train import train_frames
    from agent.files import check_output_place, invocation

    check_output_place(Path(args.out))
    model_config = FrameModelConfig(task=args.task, hears=args.hears, width=args.width, conv_layers=args.conv_layers, delay_frames=args.delay_frames)
    config = FrameTrainConfig(max_epochs=args.max_epochs, patience_epochs=args.patience, seed=args.seed)
    features = SpectrumConfig(hop_samples=args.hop_samples or HOP_SAMPLES[args.task])
    out = train_frames(Path(args.song_set), Path(args.out), model_config, config, features, resume=args.resume, force=args.force, songs=args.songs,
                       command=invocation())
    card = write_frame_card(out)
    sys.stdout.write(f"{args.task} model  {out}\nmodel card    {card}\nloss curves   {out / 'loss.png'}\n"
                     f"next: antiphon evaluate-{args.task} --model {out} --song-set {args.song_set} --update-card\n")
    return 0


def cmd_evaluate_chords(args: argparse.Namespace) -> int:
    from agent.arranger.chord_eval import evaluate_chords, markdown_chords
    from agent.arranger.frame_card import set_card_scores
    from agent.files import check_output_place

    out = Path(args.out) if args.out else Path(args.model) / "eval"
    check_output_place(out)
    report = evaluate_chords(Path(args.model), Path(args.song_set), out, songs=args.songs)
    sys.stdout.write(f"{report['heldout_songs']} held-out songs ({report['hours']} h), the recogniser hears the {report['hears']}\n\n{markdown_chords(report)}\n\n"
                     f"report       {out / 'chords.json'}\nplot         {out / 'chords.png'}\n")
    if args.update_card:
        sys.stdout.write(f"model card   {set_card_scores(Path(args.model), report, markdown_chords(report), 'chords.png')}\n")
    return 0


def cmd_evaluate_beats(args: argparse.Namespace) -> int:
    from agent.arranger.beat_eval import evaluate_beats, markdown_beats
    from agent.arranger.frame_card import set_card_scores
    from agent.files import check_output_place

    out = Path(args.out) if args.out else Path(args.model) / "eval"
    check_output_place(out)
    report = evaluate_beats(Path(args.model), Path(args.song_set), out, songs=args.songs)
    sys.stdout.write(f"{report['heldout_songs']} held-out songs\n\n{markdown_beats(report)}\n\nreport       {out / 'beats.json'}\nplot         {out / 'beats.png'}\n")
    if args.update_card:
        sys.stdout.write(f"model card   {set_card_scores(Path(args.model), report, markdown_beats(report), 'beats.png')}\n")
    return 0


def cmd_arrange(args: argparse.Namespace) -> int:
    from agent.arranger.arrange import ArrangeConfig, ArrangerModels, arrange_file
    from agent.files import check_output_place

    check_output_place(Path(args.out))
    config = ArrangeConfig(mode=args.mode, tempo_bpm=args.tempo_bpm, seed=args.seed, program=args.program)
    if not Path(args.input).is_file():
        raise AntiphonError(f"--input {args.input} does not exist")
    if args.live:
        return args.live_handler(args)  # agent/cli.py: the live agent belongs to the engine, a layer above
    models = ArrangerModels.load(config.mode, chords=args.chords_model, beats=args.beats_model, texture=args.texture_model,
                                 note_harmoniser=args.note_harmoniser)
    report = arrange_file(Path(args.input), Path(args.out), config, models)
    out = Path(args.out)
    sys.stdout.write(f"{report['bars']} bars at {report['tempo_bpm']} bpm, {report['notes']} notes\n"
                     f"midi         {out / 'arrangement.mid'}\naudio        {out / 'arrangement.wav'}\nmix          {out / 'mix.wav'}\n"
                     f"piano roll   {out / 'arrangement.png'}\nreport       {out / 'arrangement.json'}\n")
    return 0


def cmd_evaluate_arranger(args: argparse.Namespace) -> int:
    from agent.arranger.arrange import ArrangerModels
    from agent.arranger.arranger_eval import evaluate_arranger, markdown_arranger
    from agent.files import check_output_place

    check_output_place(Path(args.out))
    models = ArrangerModels.load(args.mode, chords=args.chords_model, beats=args.beats_model, texture=args.texture_model,
                                 note_harmoniser=args.note_harmoniser)
    report = evaluate_arranger(Path(args.song_set), Path(args.out), args.mode, models, songs=args.songs, seed=args.seed, tempo_given=args.tempo_given)
    sys.stdout.write(f"{report['heldout_songs']} held-out songs, {args.mode} mode, from their audio (tempo {report['tempo']})\n\n{markdown_arranger(report)}\n\n"
                     f"report       {Path(args.out) / f'arranger-{args.mode}.json'}\n")
    return 0


def cmd_fit_chord_forecast(args: argparse.Namespace) -> int:
    from agent.arranger.chord_forecast import ChordForecast, bar_chords, forecast_accuracy
    from agent.arranger.frame_data import song_set_split
    from agent.arranger.song_set import read_score
    from agent.files import check_output_place, invocation

    check_output_place(Path(args.out))
    training, heldout = song_set_split(Path(args.song_set))
    originals = lambda names: [bar_chords(read_score(Path(args.song_set) / n)) for n in names if "@" not in n]  # noqa: E731 - transposed renderings repeat their song
    forecast = ChordForecast.fit(originals(training))
    scores = forecast_accuracy(forecast, originals(heldout))
    forecast.save(Path(args.out), {"song_set": Path(args.song_set).name, "heldout_accuracy": scores,
                                   "command": invocation()})
    table = "\n".join(["| next bar's chord from | held-out accuracy |", "| --- | ---: |"] +
                      [f"| {k} | {v:.3f} |" for k, v in scores.items() if k != "bars"])
    (Path(args.out) / "README.md").write_text(
        f"# Chord forecast ({Path(args.out).name})\n\nThe live arranger's next-bar chord (agent/arranger/chord_forecast.py): a table "
        f"learned from {forecast.meta['fit_songs']} training songs' annotated bar chords ({forecast.meta['contexts']} contexts of the "
        f"chords 8, 4 and 1 bars back, relative to the bar now). Scored on {scores['bars']} bars of the held-out songs' annotations "
        f"(from each song's 9th bar):\n\n{table}\n\nRebuild: `antiphon fit-chord-forecast --song-set corpora/pop909-songs --out {args.out}`.\n",
        encoding="utf-8")
    sys.stdout.write(f"{table}\n\nforecast     {args.out}\n")
    return 0


def cmd_train_note_harmoniser(args: argparse.Namespace) -> int:
    from agent.arranger.note_harmoniser_train import train_note_harmoniser
    from agent.files import invocation

    model_config = NoteHarmoniserConfig(segment_steps=args.segment_steps, width=args.width)
    config = NoteHarmoniserTrainConfig(epochs=args.epochs, learning_rate=args.lr, seed=args.seed, threads=args.threads)
    t = train_note_harmoniser(Path(args.song_set), Path(args.out), model_config, config, force=args.force,
                              command=invocation())
    held = t["heldout_accuracy_true_melody"]
    sys.stdout.write(f"kept epoch {t['best_epoch']}: validation accuracy {t['validation_accuracy']:.3f}"
                     + (f", held-out (true melody) {held:.3f}" if held is not None else "") + f"\nmodel        {args.out}\n")
    return 0


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chords-model", default=None, help="chord model (default models/pop909-chords; performer mode models/pop909-harmoniser, "
                   "whose chords are used only with --note-harmoniser none or live)")
    p.add_argument("--note-harmoniser", default=None, help="performer mode: name the chords from the transcribed melody's notes with this "
                   "model (default models/pop909-note-harmoniser); 'none': the chords model's own chords")
    p.add_argument("--beats-model", default=None, help="beat model (default models/pop909-beats)")
    p.add_argument("--texture-model", default=None, help="texture model (default models/pop909-texture)")


def add_parsers(sub: argparse._SubParsersAction, fmt: type, live_arrange: Callable[[argparse.Namespace], int]) -> None:
    """The arranger's subcommands; ``live_arrange`` runs `arrange --live` (the live agent, in the engine)."""
    p = sub.add_parser("arrange", help="a recording in, a piano accompaniment out: .mid, rendered .wav, a mix and a piano roll", formatter_class=fmt)
    p.add_argument("--input", required=True, help="audio file: a song (--mode song) or a melody alone (--mode performer)")
    p.add_argument("--out", required=True, help="folder to write arrangement.mid, arrangement.wav, mix.wav, arrangement.png, arrangement.json")
    p.add_argument("--mode", choices=("song", "performer"), default="song", help="song: re-arrange a full mix for piano; performer: harmonise and accompany a melody")
    p.add_argument("--tempo-bpm", type=float, default=0.0, help="the input's tempo (0: found by the beat model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the texture model's sampling")
    p.add_argument("--program", type=int, default=0, help="General MIDI program the arrangement is rendered with (0: acoustic grand)")
    p.add_argument("--live", action="store_true", help="rehearse the live arranger agent on the file instead (as `serve --agent "
                   "kind=arranger` plays: each bar decided from what was heard before it; no piano roll)")
    _model_options(p)
    p.set_defaults(handler=cmd_arrange, live_handler=live_arrange)

    p = sub.add_parser("fit-chord-forecast", help="the live arranger's next-bar chord table, from a song set's training songs (scored on its held-out songs)",
                       formatter_class=fmt)
    p.add_argument("--song-set", default=str(DEFAULT_SONG_SET), help="song-set folder (antiphon make-song-set)")
    p.add_argument("--out", default=str(paths.MODELS_DIR / "pop909-chord-forecast"), help="folder to write forecast.npz, config.json, README.md")
    p.set_defaults(handler=cmd_fit_chord_forecast)

    p = sub.add_parser("train-note-harmoniser", help="performer mode's chords from a melody's notes: train on a song set's true melodies and chords",
                       formatter_class=fmt)
    p.add_argument("--song-set", default=str(DEFAULT_SONG_SET), help="song-set folder (antiphon make-song-set); its held-out songs only score the result")
    p.add_argument("--out", default=str(paths.MODELS_DIR / "pop909-note-harmoniser"), help="model folder to write")
    p.add_argument("--segment-steps", type=int, default=NoteHarmoniserConfig.segment_steps, help="16th steps per chord (4, 8 or 16)")
    p.add_argument("--width", type=int, default=NoteHarmoniserConfig.width, help="GRU units")
    p.add_argument("--epochs", type=int, default=NoteHarmoniserTrainConfig.epochs, help="passes over the fit songs (the best validation epoch is kept)")
    p.add_argument("--lr", type=float, default=NoteHarmoniserTrainConfig.learning_rate, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=NoteHarmoniserTrainConfig.seed, help="seed of the validation draw, the song order and the initialisation")
    p.add_argument("--threads", type=int, default=NoteHarmoniserTrainConfig.threads, help="torch threads")
    p.add_argument("--force", action="store_true", help="replace a note harmoniser in --out")
    p.set_defaults(handler=cmd_train_note_harmoniser)

    p = sub.add_parser("evaluate-arranger", help="the whole arranger on a song set's held-out songs from their audio: chord fit, density, polyphony, texture vs baselines",
                       formatter_class=fmt)
    p.add_argument("--song-set", default=str(DEFAULT_SONG_SET), help="song-set folder; its split.json names the held-out songs")
    p.add_argument("--mode", choices=("song", "performer"), default="song", help="song: it hears the mix; performer: the melody alone")
    p.add_argument("--out", required=True, help="report folder (arranger-<mode>.json)")
    p.add_argument("--songs", type=count, default=0, help="the first N held-out songs only (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the texture model's sampling and the random-bar baseline")
    p.add_argument("--tempo-given", action="store_true", help="give each song's annotated tempo (as a performer sets --tempo-bpm or "
                   "/tempo); the beat phase still comes from the beat model")
    _model_options(p)
    p.set_defaults(handler=cmd_evaluate_arranger)

    p = sub.add_parser("make-chorale-songs", help="the Bach chorales (music21) as POP909-format song folders: soprano = melody, "
                       "the lower voices = piano, beats and chords", formatter_class=fmt)
    p.add_argument("--out", required=True, help="folder to write NNN/ song folders into (then render it with make-song-set --pop909 DIR)")
    p.add_argument("--bpm", type=float, default=80.0, help="quarter notes a minute")
    p.add_argument("--count", type=count, default=0, help="the first N SATB chorales only (0: all; those not in 4/4 are left out)")
    p.set_defaults(handler=cmd_make_chorale_songs)

    p = sub.add_parser("make-song-set", help="render POP909 songs (the mix and the melody alone) with their beats and chords, for the arranger", formatter_class=fmt)
    p.add_argument("--pop909", required=True, help="the POP909 folder of the dataset (NNN/NNN.mid, beat_midi.txt, chord_midi.txt)")
    p.add_argument("--out", default=str(DEFAULT_SONG_SET), help="song-set folder to write (or complete: rendered songs are cached)")
    p.add_argument("--songs", type=int, default=SongSetConfig.songs, help="first N songs")
    p.add_argument("--seconds", type=float, default=SongSetConfig.seconds, help="seconds of each song from its first downbeat (0: the whole song)")
    p.add_argument("--variants", type=int, default=SongSetConfig.variants, help="renderings per song (the first as written, the others transposed, faster or slower, other instruments)")
    p.add_argument("--seed", type=int, default=SongSetConfig.seed, help="seed of the renderings' draws")
    p.add_argument("--sample-rate-hz", type=int, default=SongSetConfig.sample_rate_hz, help="audio rate")
    p.add_argument("--soundfont", default=None, help="GM soundfont (default: the system's FluidR3/GeneralUser)")
    p.add_argument("--workers", type=count, default=None, help="fluidsynth processes at once (default: the CPU count)")
    p.set_defaults(handler=cmd_make_song_set)

    for task, help_text in (("chords", "train the causal chord recogniser on a song set (the mix: song mode; the melody: performer mode)"),
                            ("beats", "train the causal beat and downbeat model on a song set (its activation drives the beat tracker)")):
        p = sub.add_parser(f"train-{task}", help=help_text, formatter_class=fmt)
        p.add_argument("--song-set", default=str(DEFAULT_SONG_SET), help="song-set folder (antiphon make-song-set)")
        p.add_argument("--out", required=True, help="model folder to write")
        p.add_argument("--hears", choices=HEARS, default=FrameModelConfig.hears, help="what it hears: the mix (song mode) or the melody alone (performer mode)")
        p.add_argument("--width", type=int, default=FrameModelConfig.width, help="width of the convolutions and the GRU")
        p.add_argument("--conv-layers", type=int, default=FrameModelConfig.conv_layers, help="dilated causal convolutions before the GRU")
        p.add_argument("--delay-frames", type=int, default=FrameModelConfig.delay_frames, help="classify each frame this many frames late (0: at once, causal)")
        p.add_argument("--hop-samples", type=count, default=0, help=f"samples per frame at 22050 Hz (0: {HOP_SAMPLES[task]})")
        p.add_argument("--max-epochs", type=int, default=FrameTrainConfig.max_epochs, help="epochs at most")
        p.add_argument("--patience", type=int, default=FrameTrainConfig.patience_epochs, help="stop after this many epochs without a better validation loss")
        p.add_argument("--songs", type=count, default=0, help="train on the first N training songs only (0: all)")
        p.add_argument("--seed", type=int, default=FrameTrainConfig.seed, help="seed of the initialisation, crops, transpositions and validation draw")
        p.add_argument("--resume", action="store_true", help="continue the training in --out")
        p.add_argument("--force", action="store_true", help="replace an existing model in --out")
        p.set_defaults(handler=cmd_train_frames, task=task)

    for task, handler, help_text in (
        ("chords", cmd_evaluate_chords, "chord recognition (mir_eval majmin, root) on a song set's held-out songs; baselines in performer mode"),
        ("beats", cmd_evaluate_beats, "beat and downbeat F-measure (mir_eval) of a beat model's tracking on a song set's held-out songs, beside librosa's"),
    ):
        p = sub.add_parser(f"evaluate-{task}", help=help_text, formatter_class=fmt)
        p.add_argument("--model", required=True, help=f"{task} model folder")
        p.add_argument("--song-set", default=str(DEFAULT_SONG_SET), help="song-set folder; its split.json names the held-out songs")
        p.add_argument("--out", default=None, help="report folder (default <model>/eval)")
        p.add_argument("--songs", type=count, default=0, help="the first N held-out songs only (0: all)")
        p.add_argument("--update-card", action="store_true", help="write the scores into the model card (README.md)")
        p.set_defaults(handler=handler)
