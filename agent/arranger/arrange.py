"""`antiphon arrange`: a recording in, a piano accompaniment out, as notes (offline).

1. Beats and downbeats: the beat model's activation and the dynamic-programming tracker
   (agent/arranger/beat_eval.py), or a fixed ``tempo_bpm``; bars are 4 beats from a downbeat.
2. Chords per frame: the song-mode recogniser (hears the mix) or, in performer mode, the
   harmoniser (hears the melody alone).
3. In performer mode the melody's notes too (pYIN pitch, agent/listening/tracks.py); in song mode
   the melody is not transcribed and the texture model is told so (``melody_known=False``).
4. Each bar on a 16th grid (the beats interpolated), its chord per step the class most frames in
   the step carry; in performer mode with a note harmoniser (the default,
   agent/arranger/note_harmoniser.py) the chords are named from the transcribed melody's notes
   instead, one per half bar. The texture model plays each bar after its own previous bar.

Writes ``arrangement.mid`` (one piano track), ``arrangement.wav`` (rendered with fluidsynth),
``mix.wav`` (the input with the arrangement), ``arrangement.png`` (piano roll, the recognised chords
above it, the bar lines) and ``arrangement.json`` (what was heard and played).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agent import paths
from agent.arranger.bars import REST, STEPS_PER_BAR, STEPS_PER_BEAT, Bar, notes_in_seconds
from agent.arranger.beat_eval import BEATS_PER_BAR, MIN_BEATS, beat_probabilities, track_beats
from agent.arranger.chord_eval import predict_classes
from agent.arranger.frame_checkpoint import FrameBundle, load_frame_model
from agent.arranger.note_harmoniser import NoteHarmoniserBundle, load_note_harmoniser
from agent.arranger.songs import NO_CHORD, class_label
from agent.arranger.spectrum import spectrum
from agent.arranger.texture_model import TextureBundle, load_texture_model
from agent.audio_io import read_mono, write_audio
from agent.errors import AntiphonError, require
from agent.files import write_json

log = logging.getLogger(__name__)

MODES = ("song", "performer")
MIN_SECONDS = 4.0
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class ArrangeConfig:
    """What ``arrange`` does with a recording."""

    mode: str = "song"  # song: a full mix to re-arrange for piano; performer: a melody alone to accompany
    tempo_bpm: float = 0.0  # 0: the beat model finds the tempo; else beats at this tempo, phase from the beat model
    seed: int = 0
    program: int = 0  # General MIDI program the arrangement is rendered with (0: acoustic grand)
    mix_level_db: float = -3.0  # the arrangement's level in mix.wav against the input's

    def __post_init__(self) -> None:
        require([
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}"),
            (self.tempo_bpm == 0 or 30.0 <= self.tempo_bpm <= 300.0, f"tempo_bpm must be 0 (follow) or 30..300, got {self.tempo_bpm}"),
            (self.seed >= 0, f"seed must be 0 or positive, got {self.seed}"),
            (0 <= self.program <= 127, f"program must be 0..127, got {self.program}"),
            (-40.0 <= self.mix_level_db <= 20.0, f"mix_level_db must be -40..20, got {self.mix_level_db}"),
        ], "arrange: ")


@dataclass(frozen=True)
class ArrangerModels:
    """The models an arrangement needs (the shipped ones by default)."""

    chords: FrameBundle
    beats: FrameBundle
    texture: TextureBundle
    note_harmoniser: NoteHarmoniserBundle | None = None  # performer mode: chords named from the melody's notes

    @classmethod
    def load(cls, mode: str, chords: Path | None = None, beats: Path | None = None, texture: Path | None = None,
             note_harmoniser: Path | str | None = None) -> "ArrangerModels":
        """``note_harmoniser`` (performer mode): a folder, None for the shipped one, "none" for the chords model's own chords."""
        default_chords = paths.MODELS_DIR / ("pop909-chords" if mode == "song" else "pop909-harmoniser")
        if mode == "performer" and chords is None and not default_chords.is_dir():
            raise AntiphonError("performer mode needs a harmoniser (chords from a melody alone); none is shipped yet: train one with "
                                "`antiphon train-chords --hears melody` and pass --chords-model")
        wanted = note_harmoniser is None or str(note_harmoniser).lower() != "none"
        if note_harmoniser is not None and wanted and mode != "performer":
            raise AntiphonError("a note harmoniser names chords from a melody alone: it is for performer mode only")
        notes = None
        if mode == "performer" and wanted:
            folder = Path(note_harmoniser or paths.MODELS_DIR / "pop909-note-harmoniser")
            if note_harmoniser is None and not folder.is_dir():
                raise AntiphonError(f"performer mode names its chords with the note harmoniser {folder}, which is missing: rebuild it with "
                                    "`antiphon train-note-harmoniser`, or pass --note-harmoniser none (the chords model's own chords)")
            notes = load_note_harmoniser(folder)
        bundle = cls(chords=load_frame_model(Path(chords or default_chords)), beats=load_frame_model(Path(beats or paths.MODELS_DIR / "pop909-beats")),
                     texture=load_texture_model(Path(texture or paths.MODELS_DIR / "pop909-texture")), note_harmoniser=notes)
        if bundle.chords.config.task != "chords" or bundle.beats.config.task != "beats":
            raise AntiphonError(f"{bundle.chords.path} must be a chords model and {bundle.beats.path} a beats model")
        hears = {"song": "mix", "performer": "melody"}[mode]
        if bundle.chords.config.hears != hears:
            raise AntiphonError(f"{mode} mode needs a chords model that hears the {hears}; {bundle.chords.path} hears the {bundle.chords.config.hears}")
        if bundle.chords.features.sample_rate_hz != bundle.beats.features.sample_rate_hz:
            raise AntiphonError(f"{bundle.chords.path} and {bundle.beats.path} hear audio at different rates "
                                f"({bundle.chords.features.sample_rate_hz} and {bundle.beats.features.sample_rate_hz} Hz)")
        return bundle


@dataclass(frozen=True)
class Heard:
    """What was heard in the input: beats, downbeats (s), and the bars (chords and, in performer mode, the melody per step)."""

    beats_s: np.ndarray
    downbeats_s: np.ndarray
    bars: list[Bar]


def check_input(audio: np.ndarray, rate: int) -> None:
    """Refuse (one line) an input too short to hold a few bars, or silent."""
    duration = len(audio) / rate
    if duration < MIN_SECONDS:
        raise AntiphonError(f"the input is {duration:.1f} s long; the arranger needs at least {MIN_SECONDS:.0f} s (a few bars)")
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise AntiphonError(f"the input is silent (peak below {SILENCE_DBFS:.0f} dBFS): nothing to arrange")


def hear(audio: np.ndarray, rate: int, models: ArrangerModels, config: ArrangeConfig) -> Heard:
    """Beats, chords (and in performer mode the melody) of a mono recording, cut into bars."""
    check_input(audio, rate)
    beat_probs = beat_probabilities(models.beats, spectrum(audio, models.beats.features))
    beats, downbeats = track_beats(beat_probs, models.beats.features, config.tempo_bpm or None)
    if len(beats) < MIN_BEATS or len(downbeats) < 2:
        raise AntiphonError(f"no beat found in the input ({len(beats)} beats, {len(downbeats)} downbeats); pass --tempo-bpm if it has a steady tempo")
    melody = melody_track(audio, rate) if config.mode == "performer" else None
    by_notes = melody is not None and models.note_harmoniser is not None  # the chords model's frames are not needed then
    classes = None if by_notes else predict_classes(models.chords, spectrum(audio, models.chords.features))
    frame_s = models.chords.features.frame_s
    bars = []
    first = int(np.searchsorted(beats, downbeats[0] - 1e-6))
    for start in range(first, len(beats) - BEATS_PER_BAR, BEATS_PER_BAR):
        grid = step_grid(beats[start : start + BEATS_PER_BAR + 1])
        bars.append(bar_at(grid, classes, frame_s, melody))
    if not bars:
        raise AntiphonError("the input holds no whole bar of 4 beats after its first downbeat")
    if by_notes:
        bars = models.note_harmoniser.harmonise_bars(bars)
    return Heard(beats_s=beats, downbeats_s=beats[first::BEATS_PER_BAR], bars=bars)


def step_grid(beats: np.ndarray) -> np.ndarray:
    """The 17 step times of a bar from its 5 beat times (4 steps per beat, linear in between)."""
    fine = np.arange(STEPS_PER_BAR + 1) / STEPS_PER_BEAT
    return np.interp(fine, np.arange(len(beats)), beats)


def bar_at(grid: np.ndarray, classes: np.ndarray | None, frame_s: float, melody: tuple[np.ndarray, float] | None) -> Bar:
    """A bar on its 17 step times: the chord class most frames of each step carry (N throughout when
    ``classes`` is None: named later), the melody's pitch at each step's middle (rests when None)."""
    chords = np.zeros(STEPS_PER_BAR, dtype=np.int64)
    for s in range(STEPS_PER_BAR if classes is not None else 0):
        a, b = int(np.floor(grid[s] / frame_s + 0.5)), int(np.floor(grid[s + 1] / frame_s + 0.5))
        part = classes[max(a, 0) : max(b, a + 1)]
        chords[s] = np.bincount(part, minlength=25).argmax() if len(part) else NO_CHORD
    pitch = np.zeros(STEPS_PER_BAR, dtype=np.int64)
    onset = np.zeros(STEPS_PER_BAR, dtype=bool)
    if melody is not None:
        midi, hop_s = melody
        for s in range(STEPS_PER_BAR):
            i = int((grid[s] + grid[s + 1]) / 2 / hop_s)
            pitch[s] = midi[i] if 0 <= i < len(midi) else REST
        onset = (pitch != REST) & (np.concatenate([[REST], pitch[:-1]]) != pitch)
    return Bar(chords=chords, melody_pitch=pitch, melody_onset=onset, step_times_s=grid)


def melody_track(audio: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """(MIDI pitch per frame, 0 where unvoiced; the frame hop in s) of a melody recording (pYIN)."""
    from agent.listening.tracks import analyse

    track = analyse(audio, rate)
    midi = np.where(np.isfinite(track.f0_hz), np.round(69 + 12 * np.log2(np.maximum(np.nan_to_num(track.f0_hz, nan=1.0), 1e-6) / 440.0)), REST)
    return np.clip(midi, 0, 127).astype(np.int64), track.frame_hop_s


def play(heard: Heard, texture: TextureBundle, config: ArrangeConfig) -> list[np.ndarray]:
    """The texture model's notes for every bar (int64 [n, 4] on the bar's 16 steps), each after the one before."""
    generator = torch.Generator().manual_seed(config.seed)
    played, previous = [], None
    for bar in tqdm(heard.bars, desc="arranging", unit="bar", disable=None):
        notes = texture.generate_bar(bar, previous, generator=generator, melody_known=config.mode == "performer")
        played.append(notes)
        previous = bar.with_notes(notes)
    return played


def arrange_file(input_path: Path, out_dir: Path, config: ArrangeConfig, models: ArrangerModels, soundfont: Path | None = None) -> dict[str, Any]:
    """Arrange a recording; write the files listed in the module's docstring into ``out_dir``."""
    from agent.arranger.arrange_plot import plot_arrangement
    from agent.demo.render import render_parts, write_parts_midi

    soundfont = soundfont or paths.default_soundfont()
    if soundfont is None or not Path(soundfont).is_file():
        raise AntiphonError("no General MIDI soundfont found to render the arrangement; install fluid-soundfont-gm")
    rate = models.chords.features.sample_rate_hz
    audio, _ = read_mono(Path(input_path), rate_hz=rate)
    heard = hear(audio, rate, models, config)
    played = play(heard, models.texture, config)
    notes = np.concatenate([notes_in_seconds(bar, n) for bar, n in zip(heard.bars, played)] or [np.zeros((0, 4))])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = [(float(a), float(d), int(p), int(v)) for a, d, p, v in notes if d > 0]
    write_parts_midi(out_dir / "arrangement.mid", [(config.program, events)], bpm=60.0)
    render_parts(out_dir / "arrangement.wav", [(config.program, events)], len(audio) / rate, rate, Path(soundfont))
    piano, _ = read_mono(out_dir / "arrangement.wav", rate_hz=rate)
    mix = audio / max(float(np.max(np.abs(audio))), 1e-9) * 0.5 + piano[: len(audio)] * 10 ** (config.mix_level_db / 20)
    write_audio(out_dir / "mix.wav", (mix / max(1.0, float(np.max(np.abs(mix))) / 0.9)).astype(np.float32), rate)
    plot_arrangement(out_dir / "arrangement.png", heard, notes)
    report = {
        "input": str(input_path), "config": asdict(config),
        "models": {"chords": str(models.chords.path), "beats": str(models.beats.path), "texture": str(models.texture.path),
                   "note_harmoniser": str(models.note_harmoniser.path) if models.note_harmoniser else None},
        "duration_s": round(len(audio) / rate, 3), "bars": len(heard.bars), "notes": len(events),
        "tempo_bpm": round(60.0 / float(np.median(np.diff(heard.beats_s))), 2),
        "bar_chords": [[class_label(int(c)) for c in bar.chords[:: STEPS_PER_BEAT]] for bar in heard.bars],
        "downbeats_s": np.round(heard.downbeats_s, 3).tolist(),
    }
    write_json(out_dir / "arrangement.json", report)
    return report
