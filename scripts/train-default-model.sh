#!/usr/bin/env bash
# Rebuild the shipped decision model models/demo-soprano-bass from nothing but this repository:
# render the demo pairs, build the demo corpus (K=16, hop 0.25 s, fitted codebook) with the shipped
# small Wav2Vec2 (models/antiphon-w2v2-small, layer 0: rebuilt by scripts/pretrain-perception.sh), train.
# About 6 minutes on 2 cores. Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
$ANTIPHON make-demo-pairs --pieces 100
$ANTIPHON build-corpus --pairs corpora/demo-pairs --source soprano --target bass --out corpora/demo \
    --codebook-size 16 --hop-s 0.25 --perception wav2vec2 --checkpoint models/antiphon-w2v2-small --layer 0 --force
$ANTIPHON train --corpus corpora/demo --out models/demo-soprano-bass --force "$@"
rm -rf models/demo-soprano-bass/checkpoint   # resume state: not shipped
