"""One agent driver for live and rehearsal: performer audio in, answer slots placed on an output clock.

``AgentDriver.push(block)`` cuts the performer's 16 kHz audio into chunks, lets the agent decide
each one and writes each answer slot on an ``OutputClock``: live, the voice's output ring ahead of
the sound card's play head; in rehearsal, an array on the file's clock. Both go through the same
policy, so a rehearsal previews what live plays:

- **lead**: the first slot after a start lands ``output_lead_ms`` after the play head; the next
  slots follow one another without gaps;
- **continuation**: after every slot the grain's own recording goes on being written (one slot
  ahead, more after a change), so a late decision never leaves silence;
- **late decisions**: a slot that would begin within ``margin`` of the play head (or behind it)
  cannot be written. The continuation already there is kept and committed up to ``lead`` ahead of
  the play head, then the chunk is decided there. When several chunks complete at once (the worker
  was held up) only the last is decided, the others counted as skipped. Only when the continuation
  has run out too does the driver re-anchor one lead ahead of the play head (a "resync");
- **latency stays one lead**: a cursor more than a lead (and a margin) ahead of the play head, after
  a shorter hop, is pulled back inside the last slot, whose audio is that grain's own recording;
- **live changes**: ``apply`` (settings, a new hop) and ``swap`` (a new agent: model, corpus)
  keep the stream going: the chunker hands its pending samples over, the continuation is written
  far enough to cover the first decision at the new rate, and the new agent's first grain fades in
  over the old one's continuation. A swap over the same corpus keeps the selection history.

The driver knows an agent only through ``DrivenAgent``: chunking, settings, one decision per
chunk that returns a slot of audio, and what plays on after it (a ``Continuation``). The
concatenative ``AnswerAgent`` (label models and listeners) is one kind; another kind (an arranger
playing notes) plugs in by providing the same.

Thread ownership: a driver belongs to the thread that calls ``push`` (the voice's worker, or the
rehearsal loop); control threads reach it only through the voice's command queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.chunking import Chunk, StreamingChunker
from agent.engine.agent import Continuation, StepResult
from agent.engine.config import EngineConfig


class DrivenAgent(Protocol):
    """What the driver needs of an agent kind (``agent.engine.agent.AnswerAgent`` is one)."""

    kind: str  # "answer" (grains) or "arranger" (notes)
    chunker: StreamingChunker  # cuts the performer's 16 kHz audio into decision chunks
    config: EngineConfig
    output_rate_hz: int

    @property
    def hop_output_samples(self) -> int:
        """The length of one slot at the output rate."""

    def reset(self) -> None:
        """A new performance: fresh chunker and decision state."""

    def apply(self, config: EngineConfig) -> None:
        """New settings between chunks (already checked); a new hop gives a new ``chunker``."""

    def take_history(self, previous: "DrivenAgent") -> None:
        """Go on from the agent it replaces live (what it played, if it can use that)."""

    def resume_from(self, continuation: Continuation | None, offset: int) -> None:
        """Before a decision: what played last is ``continuation`` from ``offset`` samples on (None:
        silence); the next slot joins it."""

    def step_chunk(self, chunk: Chunk) -> StepResult:
        """Decide one chunk; ``StepResult.audio`` is the slot, levelled."""

    def hear(self, chunk: Chunk) -> None:
        """A chunk that is not decided (the worker was held up): an agent that tracks the input hears it anyway."""

    def continuation(self) -> Continuation | None:
        """What plays on after the last slot (None: silence)."""

    def steady_level(self) -> float:
        """The output level the settings ask for."""

    @property
    def crossfade_samples(self) -> int:
        """How long a stop fades the output out."""


class OutputClock(Protocol):
    """Where answer slots are written, on an output sample clock."""

    margin_samples: int  # how far after the play head a write still lands in time

    def play_head(self) -> int:
        """The next output sample to be played."""

    def write(self, start: int, audio: np.ndarray) -> None:
        """Write ``audio`` from output sample ``start`` (never before play_head() + margin)."""

    def schedule_end(self, end: int) -> None:
        """Everything before ``end`` is written (live: the callback counts underruns past it)."""


@dataclass(frozen=True)
class Slot:
    """One chunk's place in the output: its decision, or None when it was skipped (a later chunk waited)."""

    start: int
    step: StepResult | None


class AgentDriver:
    """Drives one agent on an output clock (see the module docstring)."""

    def __init__(self, agent: DrivenAgent, clock: OutputClock) -> None:
        self.agent = agent
        self.clock = clock
        self.skipped = 0
        self.resyncs = 0
        self.cursor: int | None = None  # where the next slot begins
        self.scheduled_end = 0  # the end of what is written (slots and continuation)
        self._source: Continuation | None = None  # what plays after the cursor until the next decision
        self._offset = 0  # where the cursor is in it
        self._committed = False  # the continuation played on (or the agent changed) since the last decision
        self._slot_start = 0  # the first sample of the last slot after its opening crossfade

    # -- performance ---------------------------------------------------------------------------
    def start(self) -> None:
        """A new performance: fresh agent state; the first slot lands one lead after the play head."""
        self.agent.reset()
        self.cursor = None
        self._source, self._offset = None, 0
        self._committed = False

    def stop(self, end: int) -> None:
        """The performance stopped; what is written ends at ``end`` (the voice fades it out)."""
        self.cursor = None
        self.scheduled_end = end
        self._source, self._offset = None, 0

    def push(self, block: np.ndarray) -> list[Slot]:
        """Performer audio at 16 kHz, any block size -> the slots of the chunks it completed."""
        return self._answer_all(self.agent.chunker.push(block))

    # -- live changes --------------------------------------------------------------------------
    def apply(self, config: EngineConfig) -> list[Slot]:
        """New settings (checked by ``agent.check``); a new hop keeps the stream going."""
        old_chunker, old_crossfade = self.agent.chunker, self.agent.config.crossfade_ms
        self.agent.apply(config)
        if config.crossfade_ms != old_crossfade:
            self._committed = True  # the next joint re-cuts its fade-out from the continuation
        if self.agent.chunker is old_chunker:
            return []  # the same decision rate: nothing to hand over
        return self._after_change(old_chunker)

    def swap(self, new: DrivenAgent) -> list[Slot]:
        """Play with ``new`` from the next chunk (a model or corpus loaded live); ``new`` has the
        voice's settings applied already. The old grain's recording goes on until its first decision."""
        old = self.agent
        new.take_history(old)
        self.agent = new
        self._committed = True  # the new agent's first slot joins the old one's continuation
        return self._after_change(old.chunker)

    def _after_change(self, old_chunker) -> list[Slot]:  # noqa: ANN001 - agent.chunking.StreamingChunker
        chunks = self.agent.chunker.take_over(old_chunker) if self.agent.chunker is not old_chunker else []
        if self.cursor is None:
            return []  # not performing: nothing to answer
        # cover the first decision at the new rate: one hop of input from now, then one lead
        self._cover(self.clock.play_head() + self.agent.hop_output_samples + self._lead() + 2 * self.clock.margin_samples)
        return self._answer_all(chunks)

    # -- placing slots -------------------------------------------------------------------------
    def _lead(self) -> int:
        return max(int(round(self.agent.config.output_lead_ms * 1e-3 * self.agent.output_rate_hz)), self.clock.margin_samples)

    def _answer_all(self, chunks: list[Chunk]) -> list[Slot]:
        """Only the last of several chunks completed at once is decided (the worker was held up:
        deciding the others would only add latency); the others are counted as skipped."""
        slots = []
        for chunk in chunks[:-1]:
            self.skipped += 1
            self.agent.hear(chunk)  # not decided, but heard: an agent that follows the input keeps its clock
            slots.append(Slot(self.cursor if self.cursor is not None else -1, None))
        if chunks:
            slots.append(self._answer(chunks[-1]))
        return slots

    def _answer(self, chunk: Chunk) -> Slot:
        head = self.clock.play_head()
        lead, margin = self._lead(), self.clock.margin_samples
        if self.cursor is None:
            self._anchor(head, lead)
        elif self.cursor < head + margin:
            if self.scheduled_end >= head + margin:
                self._commit(head + lead - self.cursor)  # late: the continuation already written plays on
            else:
                self.resyncs += 1  # it ran out too: start again one lead ahead
                self._anchor(head, lead)
        elif self.cursor > head + lead + margin:
            self._pull_back(head + lead)  # too far ahead (a shorter hop, a stall caught up): back to one lead
        return Slot(self.cursor, self._decide(chunk))

    def _anchor(self, head: int, lead: int) -> None:
        """Silence until one lead after the play head (after what is still scheduled, such as a
        fade-out); the next grain fades in from it."""
        begin = max(head + self.clock.margin_samples, min(self.scheduled_end, head + lead)) if self.scheduled_end > head else head
        self.cursor = max(head + lead, begin)
        self._source, self._offset = None, 0
        if self.cursor > begin:
            self.clock.write(begin, np.zeros(self.cursor - begin, dtype=np.float32))
        self.scheduled_end = self.cursor
        self._committed = True

    def _commit(self, samples: int) -> None:
        """The next ``samples`` after the cursor play the continuation (written on if need be)."""
        self._cover(self.cursor + samples)
        self.cursor += samples
        self._offset += samples
        self._committed = True

    def _pull_back(self, to: int) -> None:
        """Move the cursor back to ``to`` inside the last slot: what plays there is that grain's own
        recording, so the next decision joins it there (never into the slot's opening crossfade)."""
        to = max(to, self._slot_start)
        if to < self.cursor:
            self._offset -= self.cursor - to
            self.cursor = to
            self._committed = True

    def _decide(self, chunk: Chunk) -> StepResult:
        agent = self.agent
        if self._committed:
            agent.resume_from(self._source, self._offset)
            self._committed = False
        step = agent.step_chunk(chunk)
        self.clock.write(self.cursor, step.audio)
        self._slot_start = self.cursor + min(int(round(agent.config.crossfade_ms * 1e-3 * agent.output_rate_hz)), len(step.audio))
        self.cursor += len(step.audio)
        self._source, self._offset = agent.continuation(), 0
        self.scheduled_end = self.cursor
        self._cover(self.cursor + len(step.audio))
        return step

    def _cover(self, until: int) -> None:
        """Write the continuation on until output sample ``until`` (silence for a gap it left
        behind the play head's margin, so nothing stale is ever played)."""
        head = self.clock.play_head()
        begin = max(self.scheduled_end, head + self.clock.margin_samples)
        if until <= begin or self.cursor is None:
            return
        if self.scheduled_end < begin:
            gap = max(self.scheduled_end, head)
            self.clock.write(gap, np.zeros(begin - gap, dtype=np.float32))
        offset = self._offset + begin - self.cursor
        if self._source is None:
            audio = np.zeros(until - begin, dtype=np.float32)
        else:
            audio = self._source.audio(offset, until - begin) * np.float32(self.agent.steady_level())
        self.clock.write(begin, audio)
        self.scheduled_end = until
        self.clock.schedule_end(until)
