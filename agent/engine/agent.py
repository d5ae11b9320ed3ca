"""One answering agent: chunk -> features -> decision step -> grain -> audio.

A *label* model (``kind`` "labels") maps the chunk's codebook label to a sampled answer label, then
a grain of that label; a *listener* scores every corpus grain from the chunk's feature and plays
one of the best (see agent/decision/listener.py).

The same object, driven by the same ``AgentDriver`` (agent/engine/driver.py), runs live (fed by the
worker thread from the input ring) and in rehearsal (fed from a file): that is what makes rehearsal
a faithful preview of a performance. Thread ownership: everything here belongs to the one thread
that drives it (the worker); other threads change settings only through ``apply`` called by that
thread between chunks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from agent.audio_io import PERCEPTION_RATE_HZ
from agent.chunking import Chunk, ChunkingConfig, make_chunker
from agent.corpus.audio_store import playback_audio
from agent.corpus.format import Corpus, load_corpus
from agent.decision.checkpoint import DecisionBundle, check_model_fits_corpus, load_model
from agent.decision.listener_decisions import ListenerDecider
from agent.model_loader import model_perception
from agent.engine.config import EngineConfig
from agent.playback.grain_selection import GrainSelector
from agent.playback.renderer import GrainRenderer
from agent.playback.sampler import sample_label
from agent.errors import AntiphonError
from agent.pairs import renderings_of
from agent.perception import PerceptionBackend


class Continuation(Protocol):
    """What plays on after a slot until the next decision (see agent/engine/driver.py)."""

    def audio(self, offset: int, length: int) -> np.ndarray:
        """``length`` samples from ``offset`` samples after the slot's end (a new array)."""


@dataclass(frozen=True)
class RecordingContinuation:
    """A corpus recording going on after a grain's slot: ``renderer``'s piece from ``sample``."""

    renderer: GrainRenderer
    piece: int
    sample: int

    def audio(self, offset: int, length: int) -> np.ndarray:
        return self.renderer.continuation(self.piece, self.sample + offset, length)


@dataclass(frozen=True)
class StepResult:
    """What happened at one chunk (also one row of the rehearsal trace)."""

    index: int
    time_s: float  # end of the performer's chunk, in stream time
    input_label: int
    predicted_label: int
    played_label: int
    grain: int
    contiguous: bool
    fallback: bool
    compute_s: float
    audio: np.ndarray
    # OSC events this step announces: (sample offset in its slot when they are due, or None: at once; command; args)
    events: tuple[tuple[int | None, str, tuple], ...] = ()

    def trace_row(self) -> dict:
        return {
            "chunk": self.index,
            "time_s": round(self.time_s, 4),
            "input_label": self.input_label,
            "predicted_label": self.predicted_label,
            "played_label": self.played_label,
            "grain": self.grain,
            "contiguous": self.contiguous,
            "fallback": self.fallback,
            "compute_ms": round(1e3 * self.compute_s, 3),
        }


def ramp_level(audio: np.ndarray, level_now: float, target: float, ramp_samples: int) -> float:
    """Scale ``audio`` in place to ``target``, ramping from ``level_now`` over ``ramp_samples`` when
    they differ (a change of gain or mute never clicks); returns the level reached."""
    if target != level_now:
        n = min(len(audio), max(ramp_samples, 1))
        audio[:n] *= np.linspace(level_now, target, n + 1, dtype=np.float32)[1:]
        audio[n:] *= target
    elif target != 1.0:
        audio *= target
    return target


def load_agent_parts(model_dir: Path, corpus_dir: Path | None = None) -> tuple[DecisionBundle, Corpus, PerceptionBackend]:
    """Load and cross-check model, corpus (default: the model's own) and perception; one-line errors.
    The corpus's audio is not decoded here: agents map it at their output rate (``playback_audio``)."""
    bundle = load_model(Path(model_dir))
    corpus = load_corpus(Path(corpus_dir) if corpus_dir else bundle.default_corpus_dir, with_audio=False)
    check_model_fits_corpus(bundle, corpus)
    return bundle, corpus, model_perception(bundle)


class AnswerAgent:
    """Listens chunk by chunk and answers with corpus grains."""

    kind = "answer"

    def __init__(
        self, bundle: DecisionBundle, corpus: Corpus, perception: PerceptionBackend, config: EngineConfig, output_rate_hz: int | None = None,
        exclude_pieces: tuple[str, ...] = (),
    ) -> None:
        """``exclude_pieces``: corpus pieces never played, with every other rendering of their work
        (``<work>@<variant>``; rehearsing a piece the corpus holds)."""
        self.bundle, self.corpus, self.perception = bundle, corpus, perception
        self.model = bundle.model
        self.codebook = bundle.codebook
        self.model_chunking = ChunkingConfig.from_dict(bundle.corpus_meta["chunking"])
        self.check(config)
        self.config = config
        self.chunking = self._chunking_for(config)
        self.output_rate_hz = int(output_rate_hz or corpus.audio_rate_hz)
        scale = self.output_rate_hz / corpus.audio_rate_hz
        audio = playback_audio(corpus, self.output_rate_hz)  # mapped, shared by every agent at this rate
        g = corpus.grains
        unknown = sorted(set(exclude_pieces) - set(corpus.piece_names))
        if unknown:
            raise AntiphonError(f"corpus {corpus.path} has no piece {unknown[0]!r} to exclude")
        excluded = renderings_of(exclude_pieces, corpus.piece_names)
        self.selector = GrainSelector.from_corpus(corpus, exclude_pieces=excluded, taboo_grains=config.taboo_grains)
        self.listener = ListenerDecider(self.model, bundle.feature_stats, corpus, self.selector.allowed) if bundle.kind == "listener" else None
        self.renderer = GrainRenderer(
            audio, g.piece, np.round(g.start_sample * scale).astype(np.int64), np.round(g.end_sample * scale).astype(np.int64),
            self._crossfade_samples(config),
        )
        self.renderer.set_slot(self.hop_output_samples if config.hop_s else None)
        self._level_now = self._target_level(config)
        self.reset()

    def check(self, config: EngineConfig) -> None:
        """Refuse settings this model cannot play (one line); ``apply`` may then not fail."""
        if config.hop_s and self.model_chunking.mode != "uniform":
            raise AntiphonError(f"this model cuts the input at onsets ({self.model_chunking.mode} chunking): its hop cannot be changed")

    def _chunking_for(self, config: EngineConfig) -> ChunkingConfig:
        return replace(self.model_chunking, hop_s=config.hop_s) if config.hop_s else self.model_chunking

    @staticmethod
    def _target_level(config: EngineConfig) -> float:
        return 0.0 if config.muted else config.gain

    def steady_level(self) -> float:
        """The output level the settings ask for (mute and gain), without the ramp ``level`` makes."""
        return self._target_level(self.config)

    @property
    def crossfade_samples(self) -> int:
        """The crossfade's length now (a stop fades the answer out over it)."""
        return self.renderer.crossfade

    def _crossfade_samples(self, config: EngineConfig) -> int:
        return int(round(config.crossfade_ms * 1e-3 * self.output_rate_hz))

    @property
    def hop_output_samples(self) -> int:
        return int(round(self.chunking.hop_s * self.output_rate_hz))

    def reset(self) -> None:
        """Start a new performance: fresh chunker, decision state, grain history and random stream."""
        self.chunker = make_chunker(self.chunking)
        self.state = self.model.initial_state(1)
        if self.listener is not None:
            self.listener.reset()
        self.prev_label = self.model.config.start_token
        self.rng = np.random.default_rng(self.config.seed)
        self.selector.reset()
        self.renderer.reset()
        self.steps = 0

    def warm_up(self) -> None:
        """Run every stage once on zeros (first-call costs paid before the performance)."""
        zeros = np.zeros(self.chunking.hop_samples, dtype=np.float32)
        feature = self.perception.features(zeros)
        self.codebook.label(feature)
        if self.listener is not None:
            self.listener.decide(feature, self.selector, self.config.temperature, self.config.top_p, self.rng)
        else:
            with torch.inference_mode():
                self.model.step(self.model.initial_state(1), 0, self.model.config.start_token)
        self.reset()

    def apply(self, config: EngineConfig) -> None:
        """New playing settings, applied between chunks (``check`` them first)."""
        if config.hop_s != self.config.hop_s:
            # a new decision rate: a new chunker (the driver hands it the old one's pending samples), slots change length
            self.chunking = self._chunking_for(config)
            self.chunker = make_chunker(self.chunking)
            self.renderer.set_slot(self.hop_output_samples if config.hop_s else None)
        if config.crossfade_ms != self.config.crossfade_ms:
            self.renderer.set_crossfade(self._crossfade_samples(config))
        if config.taboo_grains != self.config.taboo_grains:
            self.selector.set_taboo(config.taboo_grains)
        if config.seed != self.config.seed:
            self.rng = np.random.default_rng(config.seed)
        self.config = config

    def take_history(self, previous: "AnswerAgent") -> None:
        """Replacing ``previous`` live: over the same corpus, its selection history goes on."""
        if isinstance(previous, AnswerAgent) and previous.corpus is self.corpus:
            self.selector.take_history(previous.selector)

    def resume_from(self, continuation: Continuation | None, offset: int) -> None:
        """The next slot joins ``continuation`` at ``offset`` (it played on after the last slot, or
        it is another agent's): the crossfade fades it out, and when it is a recording of this
        agent's corpus, the grain under its last sample is what contiguity and taboo go on from."""
        tail = continuation.audio(offset, self.renderer.crossfade) if continuation is not None else np.zeros(0, np.float32)
        self.renderer.set_tail(tail)
        same = isinstance(continuation, RecordingContinuation) and continuation.renderer.audio is self.renderer.audio
        last = self.renderer.grain_at(continuation.piece, continuation.sample + offset - 1) if same else None
        # contiguity only at a grain's end: a joint inside a grain is crossfaded (selector.last None)
        self.selector.last = last if last is not None and self.renderer.slot_end(last)[1] == continuation.sample + offset else None

    def continuation(self) -> RecordingContinuation | None:
        """The last grain's recording after its slot (None before the first decision)."""
        if self.selector.last is None:
            return None
        piece, sample = self.renderer.slot_end(self.selector.last)
        return RecordingContinuation(self.renderer, piece, sample)

    def hear(self, chunk: Chunk) -> None:
        """A skipped chunk: each decision reads its own chunk only, so nothing to keep."""

    def step_chunk(self, chunk: Chunk) -> StepResult:
        t0 = time.perf_counter()
        feature = self.perception.features(chunk.samples)
        input_label = self.codebook.label(feature)
        if self.listener is not None:
            predicted, choice = self.listener.decide(feature, self.selector, self.config.temperature, self.config.top_p, self.rng)
        else:
            with torch.inference_mode():
                logits, self.state = self.model.step(self.state, input_label, self.prev_label)
            predicted = sample_label(logits[0].numpy(), self.config.temperature, self.config.top_p, self.rng)
            choice = self.selector.choose(predicted)
        self.prev_label = choice.label
        audio = self.level(self.renderer.render(choice.grain, choice.contiguous))
        result = StepResult(
            index=self.steps, time_s=chunk.end / PERCEPTION_RATE_HZ, input_label=input_label, predicted_label=predicted,
            played_label=choice.label, grain=choice.grain, contiguous=choice.contiguous, fallback=choice.fallback,
            compute_s=time.perf_counter() - t0, audio=audio,
        )
        self.steps += 1
        return result

    def level(self, audio: np.ndarray) -> np.ndarray:
        """Apply mute and output gain to rendered audio, in place; returns it.

        A change of gain or mute ramps over the crossfade length, so it never clicks.
        """
        self._level_now = ramp_level(audio, self._level_now, self._target_level(self.config), self.renderer.crossfade)
        return audio
