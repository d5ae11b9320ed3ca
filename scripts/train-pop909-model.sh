#!/usr/bin/env bash
# Rebuild models/pop909-melody-piano, the second shipped pairing (melody -> piano), from POP909.
# Usage: bash scripts/train-pop909-model.sh DIR/POP909
#   POP909 is not shipped: get it from the dataset's public repository (music-x-lab/POP909-Dataset)
#   and pass its POP909 folder (NNN/NNN.mid). Renders 60 songs x 60 s, builds the corpus with the
#   shipped small Wav2Vec2 (hidden state 0, K=16 fitted codebook, hop 0.1 s), trains a smaller
#   listener (2 layers x 96) and evaluates it on the held-out songs into its card.
#   About 15 minutes on 2 cores. Run after `bash scripts/setup.sh`.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/train-pop909-model.sh DIR/POP909" >&2; exit 2; }
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
$ANTIPHON make-pop909-pairs --pop909 "$1" --out corpora/pop909-pairs --songs 60 --seconds 60
$ANTIPHON build-corpus --pairs corpora/pop909-pairs --source melody --target piano --out corpora/pop909 \
    --codebook-size 16 --hop-s 0.1 --perception wav2vec2 --checkpoint models/antiphon-w2v2-small --layer 0 --force
$ANTIPHON train --corpus corpora/pop909 --kind listener --layers 2 --width 96 --heads 4 --ffn-width 288 \
    --max-epochs 30 --patience 6 --negatives 0 --force --out models/pop909-melody-piano --seed 0
rm -rf models/pop909-melody-piano/checkpoint   # resume state: not shipped
$ANTIPHON evaluate --model models/pop909-melody-piano --pairs corpora/pop909-pairs --source melody --target piano \
    --corpus corpora/pop909 --out models/pop909-melody-piano --update-card
