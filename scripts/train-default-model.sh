#!/usr/bin/env bash
# Rebuild the shipped decision model models/demo-soprano-bass from nothing but this repository:
# render the demo pairs (100 chorales as written) and build the demo corpus from them (fits the
# K=16 codebook, hop 0.1 s, with the shipped small Wav2Vec2, models/antiphon-w2v2-small, layer 0:
# rebuilt by scripts/pretrain-perception.sh); render every four-part chorale music21 ships in 3
# renderings each (as written, then twice transposed -5..+6 semitones with other instruments and
# tempo: corpora/chorales-pairs, about 980 pieces) and build the training corpus from them with the
# demo's codebook; train the listener on it (it plays the demo corpus by default), refit its label
# head on the frozen trunk and its label mix with the grain scores (agent/decision/label_head.py), then evaluate it
# on the demo's held-out chorales (labels and listening gain) and write that into its card. Seeds 1
# and 2 are trained the same way into out/seeds/ for the card's mean and spread (none is picked by
# its held-out figures: seed 0 is shipped whatever it scores), and all three are scored (labels only) on
# the training corpus's 34 held-out works in their 3 renderings.
# About 2 hours on 2 cores (--no-seeds: about 50 minutes). Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
seeds=1
[ "${1:-}" = "--no-seeds" ] && seeds=0
$ANTIPHON make-demo-pairs --pieces 100
PERCEPTION=(--hop-s 0.1 --perception wav2vec2 --checkpoint models/antiphon-w2v2-small --layer 0 --force)
$ANTIPHON build-corpus --pairs corpora/demo-pairs --source soprano --target bass --out corpora/demo --codebook-size 16 "${PERCEPTION[@]}"
$ANTIPHON make-demo-pairs --all --variants 3 --out corpora/chorales-pairs
$ANTIPHON build-corpus --pairs corpora/chorales-pairs --source soprano --target bass --out corpora/chorales --codebook-from corpora/demo "${PERCEPTION[@]}"
TRAIN=(--corpus corpora/chorales --kind listener --max-epochs 8 --patience 2 --default-corpus demo --force)
EVAL=(--pairs corpora/demo-pairs --source soprano --target bass --corpus corpora/demo)
$ANTIPHON train "${TRAIN[@]}" --out models/demo-soprano-bass --seed 0
rm -rf models/demo-soprano-bass/checkpoint   # resume state: not shipped
$ANTIPHON fit-label-head --model models/demo-soprano-bass   # an MLP label head on the frozen trunk, then the label mix (grain choices unchanged)
$ANTIPHON evaluate --model models/demo-soprano-bass "${EVAL[@]}" --out models/demo-soprano-bass --update-card
if [ "$seeds" -eq 1 ]; then
  for seed in 1 2; do
    $ANTIPHON train "${TRAIN[@]}" --out "out/seeds/listener-seed$seed" --seed "$seed"
    $ANTIPHON fit-label-head --model "out/seeds/listener-seed$seed"
    $ANTIPHON evaluate --model "out/seeds/listener-seed$seed" "${EVAL[@]}" --out "out/seeds/listener-seed$seed/eval"
  done
  .venv/bin/python bench/seed_spread.py models/demo-soprano-bass out/seeds/listener-seed1/eval out/seeds/listener-seed2/eval --update-card
  # the same three seeds with each held-out soprano heard through a random room, EQ, noise and gain
  $ANTIPHON evaluate --model models/demo-soprano-bass "${EVAL[@]}" --augment-performer 0 --out out/seeds/heard-seed0 --update-card
  for seed in 1 2; do
    $ANTIPHON evaluate --model "out/seeds/listener-seed$seed" "${EVAL[@]}" --augment-performer 0 --out "out/seeds/heard-seed$seed"
  done
  .venv/bin/python bench/seed_spread.py out/seeds/heard-seed0 out/seeds/heard-seed1 out/seeds/heard-seed2 --room --card models/demo-soprano-bass --update-card
  # labels only, on every held-out piece of the training corpus (34 works x 3 renderings; the lookup
  # table counted on its training pieces): many more works than the demo's 10 held-out chorales
  WORKS=(--pairs corpora/chorales-pairs --source soprano --target bass --corpus corpora/chorales --no-listening)
  $ANTIPHON evaluate --model models/demo-soprano-bass "${WORKS[@]}" --out out/seeds/works-seed0
  for seed in 1 2; do
    $ANTIPHON evaluate --model "out/seeds/listener-seed$seed" "${WORKS[@]}" --out "out/seeds/works-seed$seed"
  done
  .venv/bin/python bench/seed_spread.py out/seeds/works-seed0 out/seeds/works-seed1 out/seeds/works-seed2 --works --card models/demo-soprano-bass --update-card
fi
