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


def write_midi(path: Path, notes: list[tuple[float, float, int]], bpm: float, program: int, velocity: int) -> None:
    """One-track MIDI file: tempo, program change, then the notes (times in quarter notes)."""
    events: list[tuple[int, int, int]] = []  # (tick, 0 = off / 1 = on, pitch): offs sort first
    for onset_q, duration_q, pitch in notes:
        start = int(round(onset_q * TICKS_PER_BEAT))
        end = max(start + 1, int(round((onset_q + duration_q) * TICKS_PER_BEAT)))
        events.append((start, 1, pitch))
        events.append((end, 0, pitch))
    events.sort()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    now = 0
    for tick, kind, pitch in events:
        msg_type = "note_on" if kind else "note_off"
        track.append(mido.Message(msg_type, note=pitch, velocity=velocity if kind else 0, channel=0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=TICKS_PER_BEAT))
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
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
    with tempfile.TemporaryDirectory(prefix="antiphon-render-") as tmp:
        mid = Path(tmp) / "voice.mid"
        wav = Path(tmp) / "voice.wav"
        write_midi(mid, notes, bpm, program, velocity)
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
