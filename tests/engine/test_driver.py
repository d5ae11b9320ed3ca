"""The agent driver on a file clock: lead, continuation, late decisions, re-anchoring, live changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.driver import AgentDriver
from agent.engine.rehearsal import BLOCK_SAMPLES, FileClock

RATE_HZ = 48_000
GAP = int(0.005 * RATE_HZ)  # a silence this long is a gap (a note's attack rises from zero over 4 ms)


def longest_silence(audio: np.ndarray) -> int:
    quiet = np.concatenate([[0], (np.abs(audio) <= 1e-4).astype(np.int8), [0]])
    edges = np.diff(quiet)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return int(np.max(ends - starts)) if len(starts) else 0


class Run:
    """A driver over a take on a file clock, pushed block by block; ``stall`` moves the play head on."""

    def __init__(self, trained: Path, tone_corpus: Path, take: np.ndarray, **config: object) -> None:
        bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
        self.parts = (bundle, corpus, perception)
        self.agent = AnswerAgent(bundle, corpus, perception, EngineConfig(temperature=0.0, **config), output_rate_hz=RATE_HZ)
        self.scale = RATE_HZ / PERCEPTION_RATE_HZ
        self.clock = FileClock(int(len(take) * self.scale) + RATE_HZ, int(round(BLOCK_SAMPLES * self.scale)))
        self.driver = AgentDriver(self.agent, self.clock)
        self.driver.start()
        self.take = take
        self.pos = 0
        self.stalled = 0
        self.slots = []

    def play(self, seconds: float) -> None:
        end = min(self.pos + int(seconds * PERCEPTION_RATE_HZ), len(self.take))
        while self.pos < end:
            block = self.take[self.pos : self.pos + BLOCK_SAMPLES]
            self.pos += len(block)
            self.clock.head = int(round(self.pos * self.scale)) + self.stalled
            self.slots += self.driver.push(block)

    def stall(self, seconds: float) -> None:
        """The worker was held up: the play head runs on while no input reaches the driver."""
        self.stalled += int(seconds * RATE_HZ)

    def latency(self, slot) -> int:  # noqa: ANN001 - Slot
        """Samples from the end of the input that decided ``slot`` (as the play head saw it) to the slot."""
        return slot.start - int(round(slot.step.time_s * RATE_HZ)) - self.stalled

    @property
    def steps(self) -> list:
        return [s.step for s in self.slots if s.step is not None]

    def answer(self) -> np.ndarray:
        """From the first slot to the end of what the driver scheduled."""
        return self.clock.audio[self.slots[0].start : self.driver.scheduled_end]


@pytest.fixture(scope="module")
def take(session_tone_pairs: Path) -> np.ndarray:
    return read_mono(session_tone_pairs / "piece2" / "melody.flac", PERCEPTION_RATE_HZ)[0]


def test_slots_follow_one_lead_after_their_chunks_without_gaps(trained: Path, tone_corpus: Path, take: np.ndarray) -> None:
    run = Run(trained, tone_corpus, take)
    run.play(6.0)
    lead = int(0.080 * RATE_HZ)
    first = run.slots[0]
    assert 0 <= first.start - (int(first.step.time_s * RATE_HZ) + lead) < run.clock.margin_samples
    starts = [s.start for s in run.slots]
    assert np.all(np.diff(starts) == run.agent.hop_output_samples)
    assert longest_silence(run.answer()) < GAP and run.driver.skipped == run.driver.resyncs == 0


@pytest.mark.parametrize("hop_s", [0.4, 0.1])
def test_a_new_hop_goes_on_without_a_gap(trained: Path, tone_corpus: Path, take: np.ndarray, hop_s: float) -> None:
    run = Run(trained, tone_corpus, take)
    run.play(3.1)  # the change comes in the middle of a chunk: its samples go on into the next one
    before = len(run.steps)
    last_end = run.steps[-1].time_s
    run.slots += run.driver.apply(replace(run.agent.config, hop_s=hop_s))
    run.play(4.0)
    after = run.steps[before:]
    assert len(after) >= int(3.5 / hop_s)
    assert after[0].time_s == pytest.approx(last_end + hop_s, abs=1e-6)  # the stream clock went on
    assert np.allclose(np.diff([s.time_s for s in after]), hop_s)
    assert longest_silence(run.answer()) < GAP
    lead, block = int(0.080 * RATE_HZ), run.clock.margin_samples
    assert all(lead <= run.latency(s) <= lead + 2 * block for s in run.slots[-5:])  # back to one lead, whatever the hop
    assert run.driver.skipped == run.driver.resyncs == 0


def test_a_late_decision_plays_the_continuation_and_catches_up(trained: Path, tone_corpus: Path, take: np.ndarray) -> None:
    run = Run(trained, tone_corpus, take)
    run.play(3.0)
    run.stall(0.15)  # less than the slot of continuation written ahead: it covers the delay
    run.play(3.0)
    assert run.driver.resyncs == 0
    assert longest_silence(run.answer()) < GAP
    # after the stall the slots land one lead after the play head again: no latency kept from it
    lead, block = int(0.080 * RATE_HZ), run.clock.margin_samples
    assert all(lead <= run.latency(s) <= lead + 2 * block for s in run.slots[-5:]), [run.latency(s) for s in run.slots[-5:]]


def test_a_long_stall_decides_only_the_last_waiting_chunk(trained: Path, tone_corpus: Path, take: np.ndarray) -> None:
    run = Run(trained, tone_corpus, take)
    run.play(3.0)
    before = len(run.slots)
    written = run.driver.scheduled_end
    block = np.concatenate([take[run.pos : run.pos + 16_000]])  # one second of input arrives at once
    run.pos += len(block)
    run.clock.head = int(round(run.pos * run.scale))
    slots = run.driver.push(block)
    assert [s.step is None for s in slots] == [True, True, True, False] and run.driver.skipped == 3
    assert run.driver.resyncs == 1 and slots[-1].start >= written  # the continuation had run out
    lead = int(0.080 * RATE_HZ)
    assert lead <= run.latency(slots[-1]) <= lead + run.clock.margin_samples
    assert len(run.slots) == before


def test_when_the_continuation_runs_out_it_re_anchors_once(trained: Path, tone_corpus: Path, take: np.ndarray) -> None:
    run = Run(trained, tone_corpus, take)
    run.play(3.0)
    written = run.driver.scheduled_end
    run.stall(1.0)  # far more than what was written ahead: silence, then a fresh start one lead ahead
    run.play(3.0)
    assert run.driver.resyncs == 1
    resumed = next(s for s in run.slots if s.start > written)
    assert resumed.start >= int((resumed.step.time_s + 1.0 + 0.080) * RATE_HZ)  # one lead after the play head
    assert longest_silence(run.clock.audio[resumed.start : run.driver.scheduled_end]) < GAP
    assert len(run.steps) >= int(5.0 / 0.25)


def test_a_swapped_agent_takes_over_without_a_gap(trained: Path, tone_corpus: Path, take: np.ndarray) -> None:
    run = Run(trained, tone_corpus, take, taboo_grains=4)
    run.play(3.05)
    bundle, corpus, perception = run.parts
    new = AnswerAgent(bundle, corpus, perception, run.agent.config, output_rate_hz=RATE_HZ)  # the same corpus object
    new.warm_up()
    old_history = list(run.agent.selector.history)
    before = len(run.steps)
    run.slots += run.driver.swap(new)
    assert list(new.selector.history) == old_history  # the selection history goes on
    run.play(3.0)
    assert run.driver.agent is new and len(run.steps) - before >= 11
    assert longest_silence(run.answer()) < GAP and run.driver.skipped == run.driver.resyncs == 0
