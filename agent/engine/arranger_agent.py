"""The live arranger: an agent kind that hears the performer (or a song) and answers with piano notes.

It plugs into the engine's ``AgentDriver`` (agent/engine/driver.py) like the concatenative answer
agent, so ``antiphon serve`` runs it live beside answer agents and a rehearsal runs it on a file
clock. Per chunk (``HOP_S`` of input):

1. the input, resampled to the models' rate, goes through a streaming constant-Q spectrum
   (agent/arranger/stream_hearing.py); the beat model and the chord model (song mode: it hears the
   mix; performer mode: the harmoniser, it hears a melody) step over the new frames;
2. the beat follower (agent/arranger/beat_follow.py) predicts the beat grid from the beat model's
   recent output, or from a tempo given over OSC (``/antiphon/<agent>/tempo``; ``/follow 0``
   freezes the grid, which then runs on by itself);
3. **one bar of anticipation**: the next bar is decided at the last chunk that still leaves
   ``decide_ahead_s`` before it starts (0.5 to 0.6 s ahead; later after a stall of the worker, as
   long as it can still be played; else the bars start again on the next downbeat)
   from what was heard so far: the chord of the bar now is the class the chord model gave most
   probability since the bar began, and the next bar's chord is forecast from the chords of the bars
   heard (agent/arranger/chord_forecast.py: a table learned from POP909's training songs, which
   looks a phrase back; without a forecast, the chord of the bar now is played on); its notes come from the texture model (agent/arranger/texture_model.py) after the
   bar it played before, with the bar's melody unknown (it has not been played yet). The first bar
   starts on a predicted downbeat; each next one from the end of the one before to the predicted
   beat nearest four beats later (at most half a beat longer or shorter): once the bars are counted
   they follow the beat's phase and tempo without a gap, and a downbeat estimate that wavers does not
   move them;
4. the notes are rendered by FluidSynth into the agent's time line (agent/arranger/note_synth.py)
   and each slot of output is the next stretch of that time line; every note is also announced over
   OSC when it starts to sound (``/antiphon/event/note``), and every decided bar (``/antiphon/event/bar``).

Time line: the arranger's audio is placed on the input's clock, ``output_lead_ms`` after the chunk
that is being answered (where the driver writes the slot), so a note decided for time t of the
input plays when the performer is at t (give or take the stream's own latency).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soxr
import torch

from agent import paths
from agent.arranger.arrange import ArrangerModels, MODES
from agent.arranger.bars import STEPS_PER_BAR, Bar, notes_in_seconds
from agent.arranger.beat_follow import BEATS_PER_BAR, BeatFollower, BeatGrid
from agent.arranger.chord_forecast import ChordForecast
from agent.arranger.note_synth import NoteSynth
from agent.arranger.songs import NO_CHORD, class_label
from agent.arranger.stream_hearing import FrameTracker, StreamingSpectrum
from agent.audio_io import PERCEPTION_RATE_HZ
from agent.chunking import Chunk, ChunkingConfig, make_chunker
from agent.engine.agent import StepResult, ramp_level
from agent.engine.config import EngineConfig
from agent.errors import AntiphonError, require

log = logging.getLogger(__name__)

HOP_S = 0.1  # one chunk of input per step
DEFAULT_FORECAST = "pop909-chord-forecast"
TIMELINE_S = 16.0  # the rendered time line kept (a ring)
HEARD_S = 12.0  # frames of model output kept
SILENT_PEAK = 1e-4  # a bar heard below this peak is not answered


@dataclass(frozen=True)
class ArrangerConfig:
    """How a live arranger plays (beside the engine's settings: gain, mute, lead, seed)."""

    mode: str = "song"  # song: it hears a mix; performer: a melody alone (the harmoniser names the chords)
    program: int = 0  # General MIDI program of its sound in the server
    decide_ahead_s: float = 0.5  # a bar is decided at least this long before it starts (at most one chunk more)
    tempo_bpm: float = 0.0  # 0: the tempo is followed from the input; else this tempo (the phase is still followed)
    follow: bool = True  # False: the beat grid runs on by itself, the input no longer moves it

    def __post_init__(self) -> None:
        require([
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}"),
            (0 <= self.program <= 127, f"program must be 0..127, got {self.program}"),
            (0.25 <= self.decide_ahead_s <= 4.0, f"decide_ahead_s must be 0.25..4, got {self.decide_ahead_s}"),
            (self.tempo_bpm == 0 or 30.0 <= self.tempo_bpm <= 300.0, f"tempo must be 0 (follow) or 30..300 bpm, got {self.tempo_bpm}"),
        ], "arranger: ")


@dataclass(frozen=True)
class BarDecision:
    """One decided bar (kept for the trace and the benchmarks)."""

    index: int
    start_s: float
    end_s: float
    chord: int
    notes: int
    decided_at_s: float  # input time of the decision
    bpm: float

    @property
    def ahead_s(self) -> float:
        return self.start_s - self.decided_at_s


class OwnContinuation:
    """What plays on after a slot: the rest of the arranger's time line (raw: the driver applies the
    level), rendered further if need be (the tails of what was decided, silence past it)."""

    def __init__(self, agent: "ArrangerAgent", position: int) -> None:
        self.agent, self.position = agent, position

    def audio(self, offset: int, length: int) -> np.ndarray:
        start = self.position + offset
        self.agent.render_until(start + length)
        return self.agent.timeline_audio(start, length)


class ArrangerAgent:
    """Hears chunks, decides bars one ahead, plays them as notes (see the module docstring)."""

    kind = "arranger"

    def __init__(self, models: ArrangerModels, synth: NoteSynth, config: EngineConfig, arranger: ArrangerConfig,
                 output_rate_hz: int, forecast: ChordForecast | None = None) -> None:
        """``forecast``: the next bar's chord from the bars heard (None: the chord heard in the bar now)."""
        hears = {"song": "mix", "performer": "melody"}[arranger.mode]
        if models.chords.config.hears != hears:
            raise AntiphonError(f"{arranger.mode} mode needs a chords model that hears the {hears}; {models.chords.path} hears the {models.chords.config.hears}")
        beats, chords = models.beats.features, models.chords.features
        if replace(chords, hop_samples=beats.hop_samples) != beats or chords.hop_samples % beats.hop_samples:
            raise AntiphonError(f"the chords model {models.chords.path} must hear the beat model's spectrum at a whole multiple of its hop")
        delayed = [b.path for b in (models.chords, models.beats) if b.config.delay_frames]
        if delayed:
            raise AntiphonError(f"the live arranger needs frame models that answer at once; {delayed[0]} classifies its frames late (delay_frames)")
        if synth.rate_hz != output_rate_hz:
            raise AntiphonError(f"the synthesiser renders at {synth.rate_hz} Hz, the agent plays at {output_rate_hz} Hz")
        self.models, self.synth, self.arranger, self.forecast = models, synth, arranger, forecast
        self.check(config)
        self.config = config
        self.output_rate_hz = int(output_rate_hz)
        self.chunking = ChunkingConfig(hop_s=HOP_S)
        self.chord_every = chords.hop_samples // beats.hop_samples
        self.spectrum = StreamingSpectrum(beats)
        self.beat_model = FrameTracker(models.beats, int(HEARD_S / beats.frame_s))
        self.chord_model = FrameTracker(models.chords, int(HEARD_S / chords.frame_s))
        self.follower = BeatFollower(beats.frame_s)
        self.timeline = np.zeros(int(TIMELINE_S * self.output_rate_hz), dtype=np.float32)
        self.reset()

    # -- DrivenAgent ------------------------------------------------------------------------------
    def check(self, config: EngineConfig) -> None:
        if config.hop_s:
            raise AntiphonError("an arranger decides per bar: its hop cannot be set")
        most = 1e3 * (self.arranger.decide_ahead_s - 2 * HOP_S)
        if config.output_lead_ms > most:
            raise AntiphonError(f"an arranger decides a bar {self.arranger.decide_ahead_s:g} s ahead: output_lead_ms must be at most {most:.0f}, "
                                f"got {config.output_lead_ms:g}")

    @property
    def hop_output_samples(self) -> int:
        return int(round(HOP_S * self.output_rate_hz))

    @property
    def crossfade_samples(self) -> int:
        return int(round(self.config.crossfade_ms * 1e-3 * self.output_rate_hz))

    def steady_level(self) -> float:
        return 0.0 if self.config.muted else self.config.gain

    def reset(self) -> None:
        self.chunker = make_chunker(self.chunking)
        self.resampler = soxr.ResampleStream(PERCEPTION_RATE_HZ, self.models.beats.features.sample_rate_hz, 1, dtype="float32")
        self.spectrum.reset()
        self.beat_model.reset()
        self.chord_model.reset()
        self.follower.reset()
        self.synth.reset(0)
        self.timeline[:] = 0.0
        self.position: int | None = None  # the time-line sample of the next slot
        self.next_bar_s: float | None = None
        self.previous: Bar | None = None
        self.frozen: BeatGrid | None = None  # the grid while not following
        self.grid: BeatGrid | None = None
        self.decisions: list[BarDecision] = []
        self.announced_bars = 0  # decisions already sent as event/bar
        self.heard_bars: list[int] = []  # the chord heard in each bar played so far (the last one partly)
        self.pending_notes: list[tuple[int, int, int, float]] = []  # (time-line sample, pitch, velocity, duration ms) not yet announced
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.steps = 0
        self.peak = 0.0  # the input's peak since the last bar was decided
        self._level_now = self.steady_level()

    def apply(self, config: EngineConfig) -> None:
        if config.seed != self.config.seed:
            self.generator = torch.Generator().manual_seed(config.seed)
        self.config = config

    def set_tempo(self, bpm: float) -> None:
        """A tempo from outside (0: follow the input's tempo again); a frozen grid takes it at once."""
        self.arranger = replace(self.arranger, tempo_bpm=float(bpm))
        if self.frozen is not None and bpm:
            self.frozen = replace(self.frozen, period_s=60.0 / float(bpm))

    def set_follow(self, on: bool) -> None:
        """False: the beat grid runs on as it is; True: the input moves it again."""
        self.frozen = None if on else self.grid
        self.arranger = replace(self.arranger, follow=bool(on))

    def take_history(self, previous: object) -> None:
        return None  # a new arranger starts its own bars

    def resume_from(self, continuation: object, offset: int) -> None:
        """The driver let what was written play on ``offset`` samples (a late decision): skip that much
        of the time line. Anything else (a resync after the continuation ran out, another agent's
        sound) places the next slot on the input's clock again."""
        if isinstance(continuation, OwnContinuation) and continuation.agent is self:
            self.position = continuation.position + offset
        else:
            self.position = None

    def continuation(self) -> OwnContinuation | None:
        return None if self.position is None else OwnContinuation(self, self.position)

    def warm_up(self) -> None:
        """Every stage once on silence (first-call costs paid before the performance)."""
        hop = self.chunking.hop_samples
        for k in range(int(np.ceil(1.0 / HOP_S))):  # enough input for the spectrum's first frames
            self.step_chunk(Chunk(k * hop, (k + 1) * hop, np.zeros(hop, dtype=np.float32)))
        bar = Bar(chords=np.full(STEPS_PER_BAR, 1), melody_pitch=np.zeros(STEPS_PER_BAR, np.int64), melody_onset=np.zeros(STEPS_PER_BAR, bool))
        self.models.texture.generate_bar(bar, None, generator=torch.Generator().manual_seed(0), melody_known=False)
        self.reset()

    def hear(self, chunk: Chunk) -> None:
        """A chunk the driver skipped (the worker was held up): heard, so that the beat and chord clocks stay the input's."""
        self._hear(chunk.samples)

    def step_chunk(self, chunk: Chunk) -> StepResult:
        t0 = time.perf_counter()
        now_s = chunk.end / PERCEPTION_RATE_HZ
        self._hear(chunk.samples)
        if self.position is None:
            self.position = int(round((now_s + self.config.output_lead_ms * 1e-3) * self.output_rate_hz))
            self.pending_notes = [n for n in self.pending_notes if n[0] >= self.position]  # notes skipped over are not announced
        start, end = self.position, self.position + self.hop_output_samples
        self._schedule(now_s)
        self.render_until(end + self.hop_output_samples)  # this slot and what plays on after it
        audio = self.level(self.timeline_audio(start, end - start))
        events = self._note_events(start, end)
        heard = self._recent_chord()
        chord = self.decisions[-1].chord if self.decisions else NO_CHORD
        self.position = end
        result = StepResult(index=self.steps, time_s=now_s, input_label=heard, predicted_label=chord, played_label=chord, grain=-1,
                            contiguous=True, fallback=False, compute_s=time.perf_counter() - t0, audio=audio, events=tuple(events))
        self.steps += 1
        return result

    def level(self, audio: np.ndarray) -> np.ndarray:
        """Gain and mute, ramped over the crossfade when they change (in place)."""
        self._level_now = ramp_level(audio, self._level_now, self.steady_level(), self.crossfade_samples)
        return audio

    # -- hearing ----------------------------------------------------------------------------------
    def _hear(self, samples_16k: np.ndarray) -> None:
        self.peak = max(self.peak, float(np.max(np.abs(samples_16k))) if len(samples_16k) else 0.0)
        first, features = self.spectrum.push(self.resampler.resample_chunk(np.asarray(samples_16k, dtype=np.float32)))
        if not len(features):
            return
        self.follower.push(self.beat_model.push(features))  # always, so that its clock stays the input's
        chord_rows = [i for i in range(len(features)) if (first + i) % self.chord_every == 0]
        if chord_rows:
            self.chord_model.push(features[chord_rows])

    def _recent_chord(self) -> int:
        """The chord class of the last frame heard."""
        probs = self.chord_model.recent()
        return int(np.argmax(probs[-1])) if len(probs) else NO_CHORD

    def _chord_since(self, time_s: float) -> int:
        """The chord class with the most probability over the frames heard since ``time_s`` (at least the last one)."""
        probs = self.chord_model.recent()
        if not len(probs):
            return NO_CHORD
        first_kept = self.chord_model.frames - len(probs)  # index of probs[0] since reset
        since = int(np.ceil(time_s / self.models.chords.features.frame_s)) - first_kept
        return int(np.argmax(probs[min(max(since, 0), len(probs) - 1):].mean(axis=0)))

    def _current_grid(self) -> BeatGrid | None:
        if not self.arranger.follow and self.frozen is not None:
            return self.frozen
        grid = self.follower.grid(bpm=self.arranger.tempo_bpm or None)
        if not self.arranger.follow:
            self.frozen = grid  # told not to follow before any grid was found: the first one found runs on
            return grid
        self.grid = grid or self.grid  # a moment without a clear beat keeps the last grid
        return self.grid

    # -- deciding bars ----------------------------------------------------------------------------
    def _schedule(self, now_s: float) -> None:
        """Decide the next bar once it starts within ``decide_ahead_s`` (or the first bar, once a grid is found)."""
        ahead = self.arranger.decide_ahead_s
        if self.next_bar_s is not None and self.next_bar_s - now_s > ahead + HOP_S:
            return  # the next bar is not due: the grid is asked for only when a bar is decided
        grid = self._current_grid()
        if grid is None:
            return
        if self.next_bar_s is None or self.next_bar_s < now_s + self.config.output_lead_ms * 1e-3 + HOP_S:
            # the first bar, or the worker was held up until the next bar can no longer be played in
            # time: start again on a downbeat (no burst of late bars); a bar merely late is still decided
            self.next_bar_s = float(grid.downbeat_after(now_s + ahead))
            self.previous = None
        while self.next_bar_s - now_s <= ahead + HOP_S:
            self._decide(grid, now_s)

    def _decide(self, grid: BeatGrid, now_s: float) -> None:
        start = float(self.next_bar_s)
        period = grid.period_s
        end = float(np.clip(grid.beat_near(start + BEATS_PER_BAR * period), start + 3.5 * period, start + 4.5 * period))
        # the bar playing now, as heard so far (from its start, or one beat back before the first bar)
        heard = self._chord_since(self.decisions[-1].start_s if self.decisions else now_s - period) if self.peak > SILENT_PEAK else NO_CHORD
        self.heard_bars.append(heard)
        chord = self.forecast.predict(self.heard_bars) if self.forecast is not None and heard != NO_CHORD else heard
        bar = Bar(chords=np.full(STEPS_PER_BAR, chord, dtype=np.int64), melody_pitch=np.zeros(STEPS_PER_BAR, np.int64),
                  melody_onset=np.zeros(STEPS_PER_BAR, bool), step_times_s=start + (end - start) * np.arange(STEPS_PER_BAR + 1) / STEPS_PER_BAR)
        notes = np.zeros((0, 4), dtype=np.int64)
        if chord != NO_CHORD:
            notes = self.models.texture.generate_bar(bar, self.previous, generator=self.generator, melody_known=False)
        self.previous = bar.with_notes(notes)
        seconds = notes_in_seconds(bar, notes) if len(notes) else np.zeros((0, 4))
        rate = self.output_rate_hz
        timed = np.array([[round(a * rate), round((a + d) * rate), p, v] for a, d, p, v in seconds], dtype=np.int64).reshape(-1, 4)
        self.render_until(int(round(start * rate)))  # what sounds before the bar (tails, silence)
        timed = timed[timed[:, 0] >= self.synth.rendered]  # a note whose time is already rendered is not played late
        self.render_until(int(round(end * rate)), timed)
        self.pending_notes += [(int(a), int(p), int(v), float(1e3 * (b - a) / rate)) for a, b, p, v in timed]
        self.decisions.append(BarDecision(index=len(self.decisions), start_s=start, end_s=end, chord=chord, notes=len(timed), decided_at_s=now_s,
                                          bpm=60.0 / period))
        self.next_bar_s = end
        self.peak = 0.0

    # -- the time line ----------------------------------------------------------------------------
    def render_until(self, end: int, notes: np.ndarray | None = None) -> None:
        """Render the time line on to sample ``end``: ``notes`` (``NoteSynth.render_until``'s), the tails of
        earlier ones, silence."""
        if end > self.synth.rendered:
            begin = self.synth.rendered
            self.timeline_write(begin, self.synth.render_until(end, notes))

    def timeline_write(self, start: int, audio: np.ndarray) -> None:
        n = len(self.timeline)
        if len(audio) > n:
            audio, start = audio[-n:], start + len(audio) - n
        idx = np.arange(start, start + len(audio)) % n
        self.timeline[idx] = audio

    def timeline_audio(self, start: int, length: int) -> np.ndarray:
        """Time-line samples [start, start + length) (a new array; silence where nothing is rendered)."""
        out = np.zeros(length, dtype=np.float32)
        lo, hi = max(start, self.synth.rendered - len(self.timeline)), min(start + length, self.synth.rendered)
        if hi > lo:
            out[lo - start : hi - start] = self.timeline[np.arange(lo, hi) % len(self.timeline)]
        return out

    def _note_events(self, start: int, end: int) -> list[tuple[int | None, str, tuple]]:
        """The bars decided and the notes beginning in [start, end), as (sample offset in the slot or None: now, command, args)."""
        events: list[tuple[int | None, str, tuple]] = [
            (None, "event/bar", (b.index, class_label(b.chord) if b.chord != NO_CHORD else "N", round(b.bpm, 2), round(1e3 * b.ahead_s, 1)))
            for b in self.decisions[self.announced_bars:]]
        self.announced_bars = len(self.decisions)
        keep = []
        for note in self.pending_notes:
            at, pitch, velocity, duration_ms = note
            if at < end:
                events.append((max(at - start, 0), "event/note", (pitch, velocity, round(duration_ms, 1))))
            else:
                keep.append(note)
        self.pending_notes = keep
        return events


def load_arranger(arranger: ArrangerConfig, config: EngineConfig, output_rate_hz: int, chords: Path | None = None, beats: Path | None = None,
                  texture: Path | None = None, soundfont: Path | None = None, forecast: Path | None | bool = None) -> ArrangerAgent:
    """An arranger agent from model folders (the shipped ones by default) and the soundfont; one-line
    errors. ``forecast``: a chord-forecast folder (None: the shipped one; False: none, each bar plays
    the chord heard in the bar before it). Live, the chords come from the chords model's frames (the
    note harmoniser needs the bar's transcribed notes, which the live agent does not transcribe)."""
    models = ArrangerModels.load(arranger.mode, chords, beats, texture, note_harmoniser="none" if arranger.mode == "performer" else None)
    table = None if forecast is False else ChordForecast.load(Path(forecast or paths.MODELS_DIR / DEFAULT_FORECAST))
    soundfont = soundfont or paths.default_soundfont()
    if soundfont is None:
        raise AntiphonError("no General MIDI soundfont found for the arranger's sound; install fluid-soundfont-gm or set ANTIPHON_SOUNDFONT")
    return ArrangerAgent(models, NoteSynth(Path(soundfont), output_rate_hz, arranger.program), config, arranger, output_rate_hz, table)

