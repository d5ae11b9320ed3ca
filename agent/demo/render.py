"""Rendering one voice to audio: a MIDI file (mido) played by fluidsynth with a GM soundfont."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np

from agent.audio_io import read_mono, write_audio
from agent.errors import AntiphonError

TICKS_PER_BEAT = 480
PEAK_LEVEL = 0.5


DRUM_KIT = 128  # programs from here: a GM drum kit (program - DRUM_KIT) on the drum channel


def write_midi(path: Path, notes: list[tuple[float, float, int]], bpm: float, program: int, velocity: int) -> None:
    """One-track MIDI file: tempo, program change, then the notes (times in quarter notes)."""
    write_parts_midi(path, [(program, [(a, d, p, velocity) for a, d, p in notes])], bpm)


def write_parts_midi(path: Path, parts: list[tuple[int, list[tuple[float, float, int, int]]]], bpm: float) -> None:
    """MIDI file of one track per part (program, notes of onset and duration in quarter notes,
    pitch, velocity), each on its own channel (channel 9, GM's drum channel, only for a kit). A program of
    ``DRUM_KIT`` + k is GM drum kit k on the drum channel (notes are GM percussion keys)."""
    bad = next((p for p, _ in parts if not 0 <= p < 2 * DRUM_KIT), None)
    if bad is not None:
        raise AntiphonError(f"program {bad} is neither a GM program (0..127) nor a drum kit ({DRUM_KIT}..{2 * DRUM_KIT - 1})")
    if sum(p >= DRUM_KIT for p, _ in parts) > 1:
        raise AntiphonError("at most one drum part: the drum channel holds one kit")
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    for index, (program, notes) in enumerate(parts):
        channel = index if index < 9 else index + 1
        if program >= DRUM_KIT:
            channel, program = 9, program - DRUM_KIT
        events: list[tuple[int, int, int, int]] = []  # (tick, 0 = off / 1 = on, pitch, velocity): offs sort first
        for onset_q, duration_q, pitch, velocity in notes:
            start = int(round(onset_q * TICKS_PER_BEAT))
            end = max(start + 1, int(round((onset_q + duration_q) * TICKS_PER_BEAT)))
            events.append((start, 1, int(pitch), int(velocity)))
            events.append((end, 0, int(pitch), 0))
        events.sort()
        track = mido.MidiTrack()
        if index == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
        track.append(mido.Message("program_change", program=program, channel=channel, time=0))
        now = 0
        for tick, kind, pitch, velocity in events:
            msg_type = "note_on" if kind else "note_off"
            track.append(mido.Message(msg_type, note=pitch, velocity=max(1, min(127, velocity)) if kind else 0, channel=channel, time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=TICKS_PER_BEAT))
        midi.tracks.append(track)
    midi.save(str(path))


def fluidsynth_path() -> str:
    found = shutil.which("fluidsynth")
    if not found:
        raise AntiphonError("fluidsynth is not installed (scripts/setup.sh installs it with apt)")
    return found


def render_voice(
    out_path: Path,
    notes: list[tuple[float, float, int]],
    bpm: float,
    program: int,
    velocity: int,
    duration_s: float,
    rate_hz: int,
    soundfont: Path,
) -> None:
    """Render one voice to a mono file of exactly ``duration_s`` seconds, peak-normalised."""
    render_parts(out_path, [(program, [(a, d, p, velocity) for a, d, p in notes])], duration_s, rate_hz, soundfont, bpm=bpm)


def render_parts(
    out_path: Path,
    parts: list[tuple[int, list[tuple[float, float, int, int]]]],
    duration_s: float,
    rate_hz: int,
    soundfont: Path,
    bpm: float = 60.0,
) -> None:
    """Render parts (program, notes of onset and duration in quarter notes at ``bpm`` (at 60 bpm:
    seconds), pitch, velocity) together to a mono file of exactly ``duration_s`` seconds,
    peak-normalised."""
    with tempfile.TemporaryDirectory(prefix="antiphon-render-") as tmp:
        mid = Path(tmp) / "voice.mid"
        wav = Path(tmp) / "voice.wav"
        write_parts_midi(mid, parts, bpm)
        cmd = [fluidsynth_path(), "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(rate_hz), "-F", str(wav), str(soundfont), str(mid)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0 or not wav.is_file():
            reason = " ".join((result.stderr or result.stdout).split())[:300]
            raise AntiphonError(f"fluidsynth failed to render {out_path.name} (exit {result.returncode}): {reason}")
        audio, _ = read_mono(wav)
    n = int(round(duration_s * rate_hz))
    audio = np.pad(audio[:n], (0, max(0, n - len(audio))))
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 1e-6:
        audio = audio * (PEAK_LEVEL / peak)
    write_audio(out_path, audio, rate_hz)
