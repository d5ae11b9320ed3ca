#!/usr/bin/env bash
# Rebuild the shipped decision model models/demo-soprano-bass from nothing but this repository:
# render the demo pairs, build the demo corpus (K=16 fitted codebook, hop 0.1 s) with the shipped
# small Wav2Vec2 (models/antiphon-w2v2-small, layer 0: rebuilt by scripts/pretrain-perception.sh),
# train the listener, then evaluate it on the held-out chorales (labels and listening gain) and write
# that into its card. Seeds 1 and 2 are trained the same way into out/seeds/ for the card's
# mean and spread (none is picked by its held-out figures: seed 0 is shipped whatever it scores).
# About 40 minutes on 2 cores (--no-seeds: about 15). Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
seeds=1
[ "${1:-}" = "--no-seeds" ] && seeds=0
$ANTIPHON make-demo-pairs --pieces 100
$ANTIPHON build-corpus --pairs corpora/demo-pairs --source soprano --target bass --out corpora/demo \
    --codebook-size 16 --hop-s 0.1 --perception wav2vec2 --checkpoint models/antiphon-w2v2-small --layer 0 --force
TRAIN=(--corpus corpora/demo --kind listener --max-epochs 30 --patience 6 --force)
EVAL=(--pairs corpora/demo-pairs --source soprano --target bass --corpus corpora/demo)
$ANTIPHON train "${TRAIN[@]}" --out models/demo-soprano-bass --seed 0
rm -rf models/demo-soprano-bass/checkpoint   # resume state: not shipped
$ANTIPHON evaluate --model models/demo-soprano-bass "${EVAL[@]}" --out models/demo-soprano-bass --update-card
if [ "$seeds" -eq 1 ]; then
  for seed in 1 2; do
    $ANTIPHON train "${TRAIN[@]}" --out "out/seeds/listener-seed$seed" --seed "$seed"
    $ANTIPHON evaluate --model "out/seeds/listener-seed$seed" "${EVAL[@]}" --out "out/seeds/listener-seed$seed/eval"
  done
  .venv/bin/python bench/seed_spread.py models/demo-soprano-bass out/seeds/listener-seed1/eval out/seeds/listener-seed2/eval --update-card
fi
