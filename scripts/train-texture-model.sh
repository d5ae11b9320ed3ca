#!/usr/bin/env bash
# Rebuild models/pop909-texture, the arranger's texture model (chords + melody -> a bar of piano on
# a 16th grid), from POP909.
# Usage: bash scripts/train-texture-model.sh DIR/POP909
#   POP909 is not shipped: clone the dataset's public repository (MIT licence),
#     git clone https://github.com/music-x-lab/POP909-Dataset
#   and pass its POP909 folder (NNN/NNN.mid, beat_midi.txt, chord_midi.txt), e.g.
#     bash scripts/train-texture-model.sh POP909-Dataset/POP909
#   Songs whose name's SHA-1 is 0 mod 10 are held out (never trained on) and evaluated into the card.
#   About 11 minutes of training and 4 of evaluation on one core (torch runs with one thread).
#   Run after `bash scripts/setup.sh`.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/train-texture-model.sh DIR/POP909" >&2; exit 2; }
cd "$(dirname "$0")/.."
RUN=".venv/bin/antiphon"
OUT=models/pop909-texture
$RUN train-texture --pop909 "$1" --out "$OUT" --max-steps 3400 --seed 0 --force
rm -rf "$OUT/checkpoint"   # resume state: not shipped
$RUN evaluate-texture --model "$OUT" --pop909 "$1" --out "$OUT/eval-heldout" --update-card
rm -rf "$OUT/eval-heldout"   # its JSON and PNG are copied beside the card
