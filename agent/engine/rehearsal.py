"""Rehearsal: the live agent on a file clock. Deterministic under a seed, faster than real time.

The input file is read at 16 kHz and pushed in blocks through the same ``AgentDriver`` the live
worker uses (agent/engine/driver.py), on a file clock: the play head is the end of the input pushed
so far, as if the sound card had just delivered it. Each answer slot lands where it would live: one
``output_lead_ms`` after the end of the performer's chunk that decided it (anticipation: the
decision for chunk t+1 is made when chunk t ends), with the continuation, late-decision and change
policy of live. Writes the answer track, a stereo file (input
left, answer right), a summed mix, a JSON trace (one row per chunk, and how the answer fits the
take: consonance and onset agreement, against the same take shifted by half) and a PNG.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.audio_io import PERCEPTION_RATE_HZ, read_mono, resample, write_audio
from agent.engine.agent import AnswerAgent, StepResult
from agent.engine.driver import AgentDriver
from agent.errors import AntiphonError

if TYPE_CHECKING:  # the listening process is imported where a take is rehearsed (it starts a second process)
    from agent.listening.take_process import TakeListening

log = logging.getLogger(__name__)

BLOCK_SAMPLES = 256  # at 16 kHz: 16 ms, the size of a typical sound-card block


@dataclass(frozen=True)
class RehearsalResult:
    answer: np.ndarray
    steps: list[StepResult]
    slot_starts: list[int]  # output sample where each step's slot begins
    rate_hz: int
    input_s: float
    wall_s: float

    @property
    def speed_x_realtime(self) -> float:
        return self.input_s / max(self.wall_s, 1e-9)


class FileClock:
    """The driver's output clock on a file: an array the length of the take; the play head is the
    end of the input pushed so far (at the output rate)."""

    def __init__(self, total_samples: int, margin_samples: int) -> None:
        self.audio = np.zeros(total_samples, dtype=np.float32)
        self.margin_samples = margin_samples
        self.head = 0

    def play_head(self) -> int:
        return self.head

    def write(self, start: int, audio: np.ndarray) -> None:
        end = min(start + len(audio), len(self.audio))
        if end > start:
            self.audio[start:end] = audio[: end - start]

    def schedule_end(self, end: int) -> None:
        return None


def run_rehearsal(agent: AnswerAgent, performer_16k: np.ndarray) -> RehearsalResult:
    """Push the performer's signal through the agent's driver; returns the answer on the input's timeline."""
    rate = agent.output_rate_hz
    scale = rate / PERCEPTION_RATE_HZ
    clock = FileClock(int(round(len(performer_16k) * scale)), int(round(BLOCK_SAMPLES * scale)))
    driver = AgentDriver(agent, clock)
    driver.start()
    steps: list[StepResult] = []
    starts: list[int] = []
    t0 = time.perf_counter()
    for begin in range(0, len(performer_16k), BLOCK_SAMPLES):
        block = performer_16k[begin : begin + BLOCK_SAMPLES]
        clock.head = int(round((begin + len(block)) * scale))
        for slot in driver.push(block):
            if slot.step is not None:
                steps.append(slot.step)
                starts.append(slot.start)
    wall = time.perf_counter() - t0
    return RehearsalResult(answer=clock.audio, steps=steps, slot_starts=starts, rate_hz=rate,
                           input_s=len(performer_16k) / PERCEPTION_RATE_HZ, wall_s=wall)


def rehearse_file(agent: AnswerAgent, input_path: Path, out_dir: Path, listening: "TakeListening | None" = None) -> "RehearsalReport":
    """Rehearse a take and write everything; ``listening`` is the take's fit analysis already started
    (``TakeListening.start``: a second process, so that pYIN runs beside the rehearsal), else started here."""
    from agent.listening.take_process import TakeListening

    listening = listening or TakeListening.start(Path(input_path))
    try:
        performer, file_rate = read_mono(Path(input_path))
        performer_16k = resample(performer, file_rate, PERCEPTION_RATE_HZ)
        if len(performer_16k) < agent.chunking.hop_samples:
            raise AntiphonError(f"{input_path}: shorter than one chunk ({agent.chunking.hop_s} s)")
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the other core analyses the take (TakeListening): one thread each, no waiting on each other
        try:
            agent.warm_up()
            result = run_rehearsal(agent, performer_16k)
        finally:
            torch.set_num_threads(threads)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_audio(out_dir / "answer.wav", result.answer, result.rate_hz)
    except BaseException:
        listening.cancel()
        raise
    listening.send(out_dir / "answer.wav")  # the child analyses it while the mixes and the plot are made
    try:
        performer_out = resample(performer, file_rate, result.rate_hz)
        performer_out = np.pad(performer_out, (0, max(0, len(result.answer) - len(performer_out))))[: len(result.answer)]
        write_audio(out_dir / "mix-stereo.wav", np.stack([performer_out, result.answer], axis=1), result.rate_hz)
        mix = performer_out + result.answer
        peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
        write_audio(out_dir / "mix.wav", mix / peak * 0.9 if peak > 0.99 else mix, result.rate_hz)
        plot_trace(result, agent.chunking.hop_s, agent.bundle.config.num_labels, out_dir / "trace.png")
    except BaseException:
        listening.cancel()
        raise
    try:
        fit: dict | None = listening.result()
    except AntiphonError as exc:  # the rehearsal itself is done: write it, say what is missing
        log.warning("%s: trace.json is written without the listening figures", exc)
        fit = None
    trace = {
        "input": str(input_path),
        "model": str(agent.bundle.path),
        "corpus": str(agent.corpus.path),
        "engine": agent.config.to_dict(),
        "hop_s": agent.chunking.hop_s,
        "output_rate_hz": result.rate_hz,
        "input_s": round(result.input_s, 3),
        "wall_s": round(result.wall_s, 3),
        "speed_x_realtime": round(result.speed_x_realtime, 1),
        "fallbacks": sum(s.fallback for s in result.steps),
        "listening": fit,
        "chunks": [s.trace_row() for s in result.steps],
    }
    (out_dir / "trace.json").write_text(json.dumps(trace, indent=1) + "\n", encoding="utf-8")
    return RehearsalReport(result, fit)


@dataclass(frozen=True)
class RehearsalReport:
    """A rehearsal and how its answer fits the take (``agent.listening.fit.take_listening``; None
    when that analysis failed)."""

    result: RehearsalResult
    listening: dict | None


def plot_trace(result: RehearsalResult, hop_s: float, num_labels: int, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([s.time_s for s in result.steps])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    ax1.step(t, [s.input_label for s in result.steps], where="post", label="performer label (heard)", lw=1)
    ax1.step(t, [s.played_label for s in result.steps], where="post", label="answer label (played)", lw=1)
    falls = [s.time_s for s in result.steps if s.fallback]
    if falls:
        ax1.plot(falls, [num_labels] * len(falls), "rv", ms=4, label="fallback")
    ax1.set_ylabel("label")
    ax1.set_ylim(-1, num_labels + 1)
    ax1.legend(fontsize=8, loc="upper right")
    ax2.plot(t, [1e3 * s.compute_s for s in result.steps], lw=1, label="compute per chunk")
    ax2.axhline(1e3 * hop_s, color="r", ls="--", label=f"hop ({1e3 * hop_s:.0f} ms)")
    ax2.axhline(0.5e3 * hop_s, color="orange", ls=":", label="half hop (target p99)")
    ax2.set_yscale("log")
    ax2.set_ylabel("ms")
    ax2.set_xlabel("time (s)")
    ax2.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"rehearsal: {len(result.steps)} chunks, {result.speed_x_realtime:.0f}x real time")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
