#!/usr/bin/env bash
# Rebuild the loop generator: models/loop-autoencoder and models/loop-diffusion (issue 16), from
# loops rendered here, then measure it into the diffusion model's card.
# Usage: bash scripts/train-loop-models.sh
#   Renders 1200 loops of 2 bars at 90..140 bpm into corpora/loops (fluidsynth, about 3 minutes;
#   kept and reused), trains the autoencoder (8000 steps, about 40 minutes on 2 cores) and the
#   diffusion model (24000 steps, about 28 minutes), then runs bench/loop_generator.py --update-card
#   (about 14 minutes: 30 random halvings of the held-out loops). Loops whose name's SHA-1 is 0 mod 10 are held out from both trainings.
#   Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=".venv/bin/antiphon"
$RUN make-loops --out corpora/loops --loops 1200
$RUN train-loop-autoencoder --loops corpora/loops --out models/loop-autoencoder --force
rm -rf models/loop-autoencoder/checkpoint   # resume state: not shipped
$RUN train-loop-diffusion --loops corpora/loops --autoencoder models/loop-autoencoder --out models/loop-diffusion --force
rm -rf models/loop-diffusion/checkpoint
.venv/bin/python bench/loop_generator.py --model models/loop-diffusion --loops corpora/loops --update-card
