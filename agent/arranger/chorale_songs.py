"""The Bach chorales as a second source for the arranger: POP909-format song folders from music21's corpus.

Each chorale in 4/4 becomes a folder ``NNN`` (its Riemenschneider number) holding what the POP909
reader expects (agent/arranger/songs.py), so that ``make-song-set``, the training and evaluation
commands take it unchanged:

- ``NNN.mid``: MELODY = the soprano, PIANO = alto, tenor and bass (the three lower voices as a
  piano part), BRIDGE empty; at ``bpm`` quarter notes a minute;
- ``beat_midi.txt``: every quarter note, the first beat of each whole measure a downbeat (a pickup
  measure has no downbeat);
- ``chord_midi.txt``: a majmin chord per beat named from the four voices sounding at the beat: the
  triad whose tones sound most (a tone outside it counts against it, the bass on its root for it;
  N when fewer than two of its tones sound), equal neighbours merged. This labelling is a rule, as
  POP909's own chord annotations come from an algorithm; it is data, not a part of any model.

Chorales with any other time signature than 4/4 (about a tenth) are left out: the arranger's bars
are 4 beats. Where two lower voices sound the same pitch at once, the piano part holds one note for
both (a MIDI track cannot sound a key twice).
"""

from __future__ import annotations

import logging
from pathlib import Path

import mido
import numpy as np
from tqdm import tqdm

from agent.arranger.songs import PITCH_NAMES
from agent.demo.chorales import Chorale, iter_chorales
from agent.errors import AntiphonError, require

log = logging.getLogger(__name__)

TICKS_PER_QUARTER = 480
VELOCITY = 80
LOWER_VOICES = ("alto", "tenor", "bass")


def measure_starts(name: str) -> tuple[str, list[float]] | None:
    """(time signature, offsets in quarter notes of the whole measures) of a chorale, from music21;
    the signature is "mixed" when it changes (None when it has none)."""
    from music21 import corpus

    score = corpus.parse(name)
    signatures = {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")}
    if not signatures:
        return None
    measures = list(score.parts[0].getElementsByClass("Measure"))
    return signatures.pop() if len(signatures) == 1 else "mixed", [float(m.offset) for m in measures if float(m.paddingLeft) == 0.0]


def merged_unisons(notes: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Notes (onset_q, duration_q, pitch) with every overlap of one pitch merged into one note spanning both."""
    out: list[list] = []
    for onset, duration, pitch in sorted(notes, key=lambda n: (n[2], n[0])):
        last = out[-1] if out and out[-1][2] == pitch else None
        if last is not None and onset < last[0] + last[1] - 1e-9:
            last[1] = max(last[1], onset + duration - last[0])
        else:
            out.append([onset, duration, pitch])
    return sorted((a, d, p) for a, d, p in out)


def beat_chord(pitches: list[int]) -> str:
    """The majmin triad the sounding pitches (lowest first) spell best, as a Harte label (N if none)."""
    if not pitches:
        return "N"
    classes = {p % 12 for p in pitches}
    bass = min(pitches) % 12
    best, label = 1.5, "N"
    for root in range(12):
        for quality, third in (("maj", 4), ("min", 3)):
            triad = {root, (root + third) % 12, (root + 7) % 12}
            matched = len(classes & triad)
            if matched < 2:
                continue
            score = matched - len(classes - triad) + (0.5 if bass == root else 0.0) + (0.25 if (root + third) % 12 in classes else 0.0)
            if score > best:
                best, label = score, f"{PITCH_NAMES[root]}:{quality}"
    return label


def chorale_chords(chorale: Chorale) -> list[tuple[float, float, str]]:
    """(start_q, end_q, Harte label) per run of beats with the same chord."""
    notes = [n for stem in chorale.voices for n in chorale.voices[stem]]
    runs: list[list] = []
    for beat in np.arange(0.0, chorale.length_q, 1.0):
        sounding = sorted(p for onset, duration, p in notes if onset <= beat + 1e-6 < onset + duration)
        label = beat_chord(sounding)
        if runs and runs[-1][2] == label:
            runs[-1][1] = beat + 1.0
        else:
            runs.append([float(beat), float(beat + 1.0), label])
    return [(a, min(b, chorale.length_q), c) for a, b, c in runs]


def write_chorale_folder(folder: Path, chorale: Chorale, downbeats_q: list[float], bpm: float) -> None:
    seconds = 60.0 / bpm
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                                       mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)]))
    parts = {"MELODY": chorale.voices["soprano"], "BRIDGE": [], "PIANO": merged_unisons([n for v in LOWER_VOICES for n in chorale.voices[v]])}
    for name, notes in parts.items():
        events = sorted([(round(a * TICKS_PER_QUARTER), 1, p) for a, d, p in notes] + [(round((a + d) * TICKS_PER_QUARTER) - 1, 0, p) for a, d, p in notes])
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        for tick, on, pitch in events:
            track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=VELOCITY if on else 0, time=tick - now))
            now = tick
        midi.tracks.append(track)
    folder.mkdir(parents=True, exist_ok=True)
    midi.save(str(folder / f"{folder.name}.mid"))
    down = {round(q, 3) for q in downbeats_q}
    beats = np.arange(0.0, chorale.length_q, 1.0)
    (folder / "beat_midi.txt").write_text("".join(f"{b * seconds:.4f} 1.0 {1.0 if round(b, 3) in down else 0.0}\n" for b in beats))
    (folder / "chord_midi.txt").write_text("".join(f"{a * seconds:.4f}\t{b * seconds:.4f}\t{c}\n" for a, b, c in chorale_chords(chorale)))


def make_chorale_songs(out_dir: Path, bpm: float = 80.0, count: int | None = None) -> list[str]:
    """Write a POP909-format folder per 4/4 chorale (of the first ``count`` SATB chorales; all if None). Returns the folder names."""
    require([(30.0 <= bpm <= 240.0, f"bpm must be 30..240, got {bpm}"), (count is None or count > 0, f"count must be positive, got {count}")], "chorale songs: ")
    out_dir = Path(out_dir)
    written, skipped = [], 0
    for chorale in tqdm(list(iter_chorales(count)), desc="writing chorale songs", unit="chorale", disable=None):
        meter = measure_starts(chorale.name)
        if meter is None or meter[0] != "4/4" or len(meter[1]) < 2:
            skipped += 1
            continue
        name = f"{chorale.number:03d}"
        write_chorale_folder(out_dir / name, chorale, meter[1], bpm)
        written.append(name)
    if not written:
        raise AntiphonError("no chorale in 4/4 was found in music21's corpus")
    log.info("wrote %d chorale songs into %s (%d not in 4/4 throughout left out)", len(written), out_dir, skipped)
    return written
