#!/usr/bin/env bash
# Rebuild models/antiphon-w2v2-small, Antiphon's own small Wav2Vec2, from nothing but this
# repository: render the demo pairs, pretrain (self-supervised) on every stem of their training
# pieces, then compare it with the random-weight encoder and the DSP backend (the table goes into
# its model card). About 25 minutes of pretraining plus 15 of comparison on 2 cores.
# Run after `bash scripts/setup.sh`; then `bash scripts/train-default-model.sh` retrains the
# shipped decision model on its features.
set -euo pipefail
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
$ANTIPHON make-demo-pairs --pieces 100
$ANTIPHON pretrain-perception --pairs corpora/demo-pairs --out models/antiphon-w2v2-small --force "$@"
$ANTIPHON compare-perception --pairs corpora/demo-pairs --perception models/antiphon-w2v2-small
