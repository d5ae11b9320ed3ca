"""`antiphon train-texture` and `antiphon evaluate-texture`: the texture model's two commands.

``add_parsers(sub, fmt)`` registers both on the `antiphon` command's subparsers (each with its
``handler``; agent/cli.py). Imports are lazy: ``--help`` loads no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.arranger.texture_config import TextureModelConfig, TextureTrainConfig
from agent.errors import AntiphonError
from agent.files import check_output_place



def _invocation(pop909: str) -> str:
    """The command line that ran, for the card ("" when run from Python); the POP909 folder, a
    place on this machine, is written DIR/POP909."""
    name = Path(sys.argv[0]).name
    words = ["DIR/POP909" if word == pop909 else word for word in sys.argv[1:]]
    if name in ("antiphon", "__main__.py"):
        return "antiphon " + " ".join(words)
    return ""


def _pop909_folder(text: str) -> Path:
    folder = Path(text)
    if not folder.is_dir():
        raise AntiphonError(f"--pop909 {folder} is not a folder (get POP909 from github.com/music-x-lab/POP909-Dataset and pass its POP909 folder)")
    return folder


def cmd_train_texture(args: argparse.Namespace) -> int:
    from agent.arranger.texture_train import train_texture

    out = Path(args.out)
    check_output_place(out)
    pop909 = _pop909_folder(args.pop909)
    model_config = TextureModelConfig(width=args.width, num_layers=args.layers, num_heads=args.heads, ffn_width=args.ffn_width,
                                      head_width=args.head_width, dropout=args.dropout)
    config = TextureTrainConfig(max_epochs=args.max_epochs, max_steps=args.max_steps, batch_size_bars=args.batch_size, learning_rate=args.lr,
                                validate_every_steps=args.validate_every, patience_validations=args.patience, songs=args.songs,
                                threads=args.threads, seed=args.seed)
    train_texture(pop909, out, model_config, config, resume=args.resume, force=args.force, command=_invocation(args.pop909))
    sys.stdout.write(f"texture model  {out}\nmodel card     {out / 'README.md'}\nloss curves    {out / 'loss.png'}\n"
                     f"next: evaluate-texture --model {out} --pop909 {args.pop909} --update-card (held-out table into the card)\n")
    return 0


def cmd_evaluate_texture(args: argparse.Namespace) -> int:
    from agent.arranger.texture_eval import card_text, evaluate_folder, markdown_table
    from agent.decision.model_card import set_card_section
    from agent.arranger.texture_model import load_texture_model

    if args.update_card and args.songs:
        raise AntiphonError("--update-card writes the held-out figures into the card: it cannot go with --songs")
    model = Path(args.model)
    out = Path(args.out) if args.out else model / "eval-heldout"
    check_output_place(out)
    pop909 = _pop909_folder(args.pop909)
    load_texture_model(model)  # refuse a wrong or corrupt folder before reading any song
    report = evaluate_folder(model, pop909, out, seed=args.seed, songs_limit=args.songs)
    sys.stdout.write(markdown_table(report) + "\n\n")
    if args.update_card:
        import shutil

        for name in ("evaluation.json", "evaluation.png"):
            if out.resolve() != model.resolve():
                shutil.copyfile(out / name, model / name)
        card = set_card_section(model / "README.md", "Held-out evaluation", card_text(report, _invocation(args.pop909)))
        sys.stdout.write(f"model card     {card}\n")
    sys.stdout.write(f"report         {out / 'evaluation.json'}\ntable          {out / 'evaluation.md'}\nplot           {out / 'evaluation.png'}\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    """Register ``train-texture`` and ``evaluate-texture`` on the `antiphon` subparsers."""
    p = sub.add_parser("train-texture", help="train the arranger's texture model (chords + melody -> piano bar on a 16th grid) on POP909", formatter_class=fmt)
    p.add_argument("--pop909", required=True, help="the dataset's POP909 folder (NNN/NNN.mid, beat_midi.txt, chord_midi.txt), from github.com/music-x-lab/POP909-Dataset")
    p.add_argument("--out", required=True, help="model folder to write, e.g. models/pop909-texture")
    p.add_argument("--resume", action="store_true", help="continue the training saved in <out>/checkpoint")
    p.add_argument("--force", action="store_true", help="replace an existing texture model folder")
    p.add_argument("--songs", type=int, default=TextureTrainConfig.songs, help="only the first N song folders (quick runs; 0 = all)")
    g = p.add_argument_group("model")
    g.add_argument("--layers", type=int, default=TextureModelConfig.num_layers, help="Transformer layers")
    g.add_argument("--width", type=int, default=TextureModelConfig.width, help="model width")
    g.add_argument("--heads", type=int, default=TextureModelConfig.num_heads, help="attention heads")
    g.add_argument("--ffn-width", type=int, default=TextureModelConfig.ffn_width, help="feed-forward width")
    g.add_argument("--head-width", type=int, default=TextureModelConfig.head_width, help="hidden width of the pitch and duration heads")
    g.add_argument("--dropout", type=float, default=TextureModelConfig.dropout, help="dropout")
    g = p.add_argument_group("training")
    g.add_argument("--max-epochs", type=int, default=TextureTrainConfig.max_epochs, help="passes over the fit bars at most")
    g.add_argument("--max-steps", type=int, default=TextureTrainConfig.max_steps, help="optimizer steps at most (0: only --max-epochs bounds them)")
    g.add_argument("--batch-size", type=int, default=TextureTrainConfig.batch_size_bars, help="bars per step")
    g.add_argument("--lr", type=float, default=TextureTrainConfig.learning_rate, help="peak AdamW learning rate (warm-up, then cosine to a tenth)")
    g.add_argument("--validate-every", type=int, default=TextureTrainConfig.validate_every_steps, help="steps between validations (and resume checkpoints)")
    g.add_argument("--patience", type=int, default=TextureTrainConfig.patience_validations, help="early stopping: validations without a better validation loss")
    g.add_argument("--threads", type=int, default=TextureTrainConfig.threads, help="torch threads (1 is fastest beside another busy process)")
    g.add_argument("--seed", type=int, default=TextureTrainConfig.seed, help="seed (validation songs, bar order, transpositions, init, dropout)")
    p.set_defaults(handler=cmd_train_texture)

    p = sub.add_parser("evaluate-texture", help="held-out chord fit, density, polyphony and texture similarity of a texture model vs baselines (table, JSON, PNG)", formatter_class=fmt)
    p.add_argument("--model", required=True, help="texture model folder (from train-texture)")
    p.add_argument("--pop909", required=True, help="the dataset's POP909 folder; its held-out songs (SHA-1 of the name %% 10 == 0) are played")
    p.add_argument("--out", default=None, help="report folder (default <model>/eval-heldout)")
    p.add_argument("--songs", type=int, default=0, help="only the held-out songs among the first N folders (quick look; 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the random-bar baseline")
    p.add_argument("--update-card", action="store_true", help="write the held-out table into the model card (README.md), with evaluation.json/png beside it")
    p.set_defaults(handler=cmd_evaluate_texture)
