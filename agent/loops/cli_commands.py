"""The loop generator's commands of the `antiphon` CLI (registered by agent/cli.py)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from agent import paths
from agent.cli_types import count, positive_count
from agent.loops.autoencoder_config import AutoencoderTrainConfig, LoopAutoencoderConfig
from agent.loops.diffusion_config import DiffusionTrainConfig, LoopDiffusionConfig
from agent.loops.loop_request import LoopRequest
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
    if args.pop909:
        from agent.loops.pop909_loops import make_pop909_loop_set

        names = make_pop909_loop_set(Path(args.pop909), Path(args.out), config, Path(soundfont), workers=args.workers)
        kinds = "POP909 piano accompaniment"
    else:
        names = make_loop_set(Path(args.out), config, Path(soundfont), workers=args.workers)
        kinds = ", ".join(KINDS)
    sys.stdout.write(f"loop set     {args.out} ({len(names)} loops of {args.bars} bars: {kinds}; WAV + JSON each, loops.json)\n")
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


def cmd_train_loop_autoencoder(args: argparse.Namespace) -> int:
    from agent.files import invocation
    from agent.loops.autoencoder_train import train_autoencoder

    model_config = LoopAutoencoderConfig(base_channels=args.base_channels, max_channels=args.max_channels, latent_channels=args.latent_channels)
    config = AutoencoderTrainConfig(**_step_training_fields(args, AutoencoderTrainConfig))
    out = train_autoencoder(Path(args.loops), Path(args.out), model_config, config, resume=args.resume, force=args.force, command=invocation())
    sys.stdout.write(f"autoencoder  {out}\nmodel card   {out / 'README.md'}\nloss curves  {out / 'loss.png'}\n")
    return 0


def cmd_train_loop_diffusion(args: argparse.Namespace) -> int:
    from agent.files import invocation
    from agent.loops.diffusion_config import DiffusionTrainConfig, LoopDiffusionConfig
    from agent.loops.diffusion_train import train_diffusion

    model_config = LoopDiffusionConfig(width=args.width, max_width=args.max_width, levels=args.levels, blocks=args.blocks)
    config = DiffusionTrainConfig(**_step_training_fields(args, DiffusionTrainConfig), crop_frames=args.crop_frames, drop_prob=args.drop_prob)
    out = train_diffusion(Path(args.loops), Path(args.autoencoder), Path(args.out), model_config, config, resume=args.resume, force=args.force,
                          command=invocation(), use_kinds=not args.no_kinds)
    sys.stdout.write(f"diffusion    {out}\nmodel card   {out / 'README.md'}\nloss curves  {out / 'loss.png'}\n"
                     f"next: python bench/loop_generator.py --model {out} --update-card (tempo accuracy, distances, seam, speed into the card)\n")
    return 0


def cmd_generate_loops(args: argparse.Namespace) -> int:
    from agent.errors import AntiphonError
    from agent.files import check_output_place
    from agent.loops.diffusion_checkpoint import load_diffusion
    from agent.loops.generate import free_prefix, generate_loops, write_loops

    request = LoopRequest(bpm=args.bpm, bars=args.bars, count=args.count, guidance=args.guidance, steps=args.steps, seed=args.seed, kind=args.kind)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.prefix) or ".." in args.prefix:
        raise AntiphonError(f"--prefix {args.prefix!r}: letters, digits, '_', '-' and '.' only (a file name, not a path)")
    check_output_place(Path(args.out))
    corpus_config = None
    if args.into_corpus:  # refused before anything is generated
        from agent.loops.loop_corpus import check_corpus_target, corpus_config_of

        check_corpus_target(Path(args.into_corpus), Path(args.out))
        corpus_config = corpus_config_of(Path(args.codebook_model))
    bundle = load_diffusion(Path(args.model), Path(args.autoencoder) if args.autoencoder else None)
    from tqdm import tqdm

    with tqdm(total=None, desc="generating loops", unit="step", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        loops = generate_loops(bundle, request, progress=progress)
    written = write_loops(Path(args.out), loops, request, bundle, prefix=free_prefix(Path(args.out), args.prefix), made_by="antiphon generate-loops")
    sys.stdout.write("".join(f"{p}\n" for p in written))
    if args.into_corpus and corpus_config is not None:
        from agent.loops.loop_corpus import add_to_corpus

        corpus = add_to_corpus(written, Path(args.into_corpus), corpus_config)
        sys.stdout.write(f"corpus       {corpus} (play it: antiphon rehearse/serve with --corpus {corpus})\n")
    return 0


def _add_step_training_args(p: argparse.ArgumentParser, out: Path, what: str, config: type) -> None:
    """The options both loop trainings take (agent/loops/step_training.py), defaults from their ``config`` class."""
    p.add_argument("--loops", default=str(paths.CORPORA_DIR / "loops"), help="folder of loops (make-loops, or yours: tempo in each name or tempo.csv)")
    p.add_argument("--out", default=str(out), help="model folder to write")
    p.add_argument("--resume", action="store_true", help="continue the training saved in <out>/checkpoint")
    p.add_argument("--force", action="store_true", help=f"replace an existing {what} folder")
    p.add_argument("--steps", type=positive_count, default=config.steps, help="training steps")
    p.add_argument("--batch-size", type=positive_count, default=config.batch_size, help="windows per step")
    p.add_argument("--learning-rate", type=float, default=config.learning_rate, help="Adam learning rate")
    p.add_argument("--eval-every", type=positive_count, default=config.eval_every, help="steps between validations (and resumable checkpoints)")
    p.add_argument("--seed", type=int, default=config.seed, help="seed of the weights, the batches and the validation loops")
    p.add_argument("--threads", type=positive_count, default=config.threads, help="CPU threads per process")


def _step_training_fields(args: argparse.Namespace, config: type) -> dict:
    """The step-loop fields of a training config from the shared options (warm-up and validation no longer than the run)."""
    return {"steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed, "threads": args.threads,
            "warmup_steps": min(config.warmup_steps, args.steps), "eval_every": min(args.eval_every, args.steps)}


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
    p.add_argument("--pop909", default=None, metavar="DIR/POP909",
                   help="cut the loops from POP909's piano accompaniment on its beats instead (whole songs held out; not shipped: music-x-lab/POP909-Dataset)")
    p.set_defaults(handler=cmd_make_loops)

    p = sub.add_parser("loop-tempo", help="the tempo a beat tracker hears in each loop of a folder, against the tempo in its name or tempo.csv",
                       formatter_class=fmt)
    p.add_argument("folder", help="folder of loops: the tempo in each name ('..._124bpm.wav') or in tempo.csv (file,bpm)")
    p.set_defaults(handler=cmd_loop_tempo)

    p = sub.add_parser("train-loop-autoencoder", help="train the loop generator's audio autoencoder on a folder of loops (works under torchrun for DDP)",
                       formatter_class=fmt)
    _add_step_training_args(p, paths.DEFAULT_LOOP_AUTOENCODER_DIR, "autoencoder", AutoencoderTrainConfig)
    p.add_argument("--base-channels", type=positive_count, default=LoopAutoencoderConfig.base_channels, help="channels of the first stage (doubled per stage)")
    p.add_argument("--max-channels", type=positive_count, default=LoopAutoencoderConfig.max_channels, help="channels of the widest stage")
    p.add_argument("--latent-channels", type=positive_count, default=LoopAutoencoderConfig.latent_channels, help="latent channels per frame")
    p.set_defaults(handler=cmd_train_loop_autoencoder)

    p = sub.add_parser("train-loop-diffusion", help="train the loop generator's tempo-conditioned diffusion model (IADB) on a folder of loops (works under torchrun for DDP)",
                       formatter_class=fmt)
    _add_step_training_args(p, paths.DEFAULT_LOOP_DIFFUSION_DIR, "diffusion model", DiffusionTrainConfig)
    p.add_argument("--autoencoder", default=str(paths.DEFAULT_LOOP_AUTOENCODER_DIR), help="trained loop autoencoder folder (train-loop-autoencoder)")
    p.add_argument("--width", type=positive_count, default=LoopDiffusionConfig.width, help="UNet channels at the top level (doubled per level)")
    p.add_argument("--max-width", type=positive_count, default=LoopDiffusionConfig.max_width, help="UNet channels at most")
    p.add_argument("--levels", type=positive_count, default=LoopDiffusionConfig.levels, help="UNet levels (halvings of the frame rate)")
    p.add_argument("--blocks", type=positive_count, default=LoopDiffusionConfig.blocks, help="residual blocks per level")
    p.add_argument("--crop-frames", type=positive_count, default=DiffusionTrainConfig.crop_frames, help="latent frames per training window")
    p.add_argument("--drop-prob", type=float, default=DiffusionTrainConfig.drop_prob, help="share of each batch trained without the condition, tempo and kind (for guidance)")
    p.add_argument("--no-kinds", action="store_true", help="condition on the tempo only, even when the loops' sidecars name their kind (drums, bass...)")
    p.set_defaults(handler=cmd_train_loop_diffusion)

    p = sub.add_parser("generate-loops", help="generate new loops at a tempo with the loop diffusion model (WAV + JSON each; --into-corpus for an agent)",
                       formatter_class=fmt)
    p.add_argument("--bpm", type=float, required=True, help="tempo of the loops (40..240; the model's card and config.json give the range it learned, bpm_range)")
    p.add_argument("--bars", type=positive_count, default=LoopRequest.bars, help="bars of 4/4 per loop")
    p.add_argument("--count", type=positive_count, default=LoopRequest.count, help="how many loops")
    p.add_argument("--out", required=True, help="folder to write the loops into (files already there are kept: new names are chosen)")
    p.add_argument("--guidance", type=float, default=LoopRequest.guidance, help="classifier-free guidance w: 0 ignores the tempo and kind, 1 conditional, more holds them tighter")
    p.add_argument("--steps", type=positive_count, default=LoopRequest.steps, help="sampler steps")
    p.add_argument("--seed", type=count, default=LoopRequest.seed, help="seed of the noise (loop i of a request: seed and i)")
    p.add_argument("--kind", default=None, help="the part to generate (drums, bass...), one the model knows (its card lists them); "
                                                 "default: each loop draws one by the training loops' shares")
    p.add_argument("--prefix", default="loop", help="file name prefix (<prefix>-NN-<bpm>bpm.wav)")
    p.add_argument("--model", default=str(paths.DEFAULT_LOOP_DIFFUSION_DIR), help="loop diffusion model folder")
    p.add_argument("--autoencoder", default=None, help="autoencoder folder (default: the one the model records)")
    p.add_argument("--into-corpus", default=None, metavar="CORPUS", help="also build or extend this corpus from the loops (pairs kept in CORPUS-pairs)")
    p.add_argument("--codebook-model", default=str(paths.DEFAULT_MODEL_DIR), help="--into-corpus: decision model whose codebook, chunking and perception label the grains")
    p.set_defaults(handler=cmd_generate_loops)
