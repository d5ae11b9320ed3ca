#!/usr/bin/env bash
# Rebuild the arranger's perception models from POP909: the song set (each song's first 120 s from
# its first downbeat, rendered with fluidsynth: the mix and the melody alone, with beats and chords),
# then two small causal frame models trained on it and evaluated on its held-out songs (SHA-1 of
# the song name % 10 == 0) into their cards:
#   models/pop909-chords       chords from the mix (song mode)
#   models/pop909-beats        beats and downbeats from the mix (drives the beat tracker)
# Performer mode: the harmoniser (`train-chords --hears melody`, models/pop909-harmoniser) and the
# note harmoniser (chords from the melody's notes, models/pop909-note-harmoniser, 30 s); the live
# arranger's next-bar chord table (models/pop909-chord-forecast, seconds).
# Usage: bash scripts/train-arranger-perception.sh DIR/POP909
#   POP909 is not shipped: get it from the dataset's public repository
#   (github.com/music-x-lab/POP909-Dataset, MIT licence) and pass its POP909 folder (NNN/NNN.mid).
#   About 1 hour 15 on 2 cores (10 min to render, 25 to train the chords, 12 the harmoniser, 25 the beats). Run after `bash scripts/setup.sh`.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/train-arranger-perception.sh DIR/POP909" >&2; exit 2; }
cd "$(dirname "$0")/.."
ANTIPHON=.venv/bin/antiphon
SONGS=corpora/pop909-songs
$ANTIPHON make-song-set --pop909 "$1" --out "$SONGS" --seconds 120
$ANTIPHON train-chords --song-set "$SONGS" --hears mix --out models/pop909-chords --max-epochs 8 --force
$ANTIPHON evaluate-chords --model models/pop909-chords --song-set "$SONGS" --out models/pop909-chords --update-card
$ANTIPHON train-chords --song-set "$SONGS" --hears melody --out models/pop909-harmoniser --max-epochs 14 --patience 3 --force
$ANTIPHON evaluate-chords --model models/pop909-harmoniser --song-set "$SONGS" --out models/pop909-harmoniser --update-card
$ANTIPHON train-note-harmoniser --song-set "$SONGS" --out models/pop909-note-harmoniser --threads 2 --force
$ANTIPHON fit-chord-forecast --song-set "$SONGS" --out models/pop909-chord-forecast
$ANTIPHON train-beats --song-set "$SONGS" --hears mix --out models/pop909-beats --songs 400 --width 96 --max-epochs 6 --force
$ANTIPHON evaluate-beats --model models/pop909-beats --song-set "$SONGS" --out models/pop909-beats --update-card
for m in pop909-chords pop909-harmoniser pop909-beats; do rm -rf "models/$m/checkpoint"; done   # resume state: not shipped
