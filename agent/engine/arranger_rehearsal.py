"""`antiphon arrange --live`: the live arranger agent rehearsed on a recording (a file clock, faster than real time).

The same agent and driver as ``antiphon serve --agent name=piano,kind=arranger`` (one bar of
anticipation, the tempo followed from the input or given), pushed through the engine's rehearsal
loop (agent/engine/rehearsal.py). Writes into the output folder, only once the rehearsal succeeded:

- ``arrangement.wav``: what the agent played (its FluidSynth rendering), on the input's time line;
- ``mix.wav``: the input with it;
- ``arrangement.mid``: the notes it announced (``/antiphon/event/note``), at their times;
- ``arrangement.json``: the bars it decided (start, end, chord, notes, how long ahead, tempo), the
  compute per chunk and the speed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agent.arranger.arrange import check_input
from agent.engine.arranger_agent import ArrangerAgent
from agent.arranger.songs import NO_CHORD, class_label
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono, write_audio
from agent.engine.rehearsal import RehearsalResult, run_rehearsal
from agent.errors import AntiphonError
from agent.files import write_json

log = logging.getLogger(__name__)


def announced_notes(result: RehearsalResult) -> list[tuple[float, float, int, int]]:
    """(onset s, duration s, pitch, velocity) of every note a rehearsal announced."""
    rate = result.rate_hz
    return [((start + offset) / rate, args[2] / 1e3, int(args[0]), int(args[1]))
            for step, start in zip(result.steps, result.slot_starts) for offset, command, args in step.events if command == "event/note"]


def rehearse_arranger(agent: ArrangerAgent, input_path: Path, out_dir: Path, mix_level_db: float = -3.0) -> dict[str, Any]:
    """Rehearse ``agent`` on a recording and write the files of the module docstring."""
    from agent.demo.render import write_parts_midi

    if not Path(input_path).is_file():
        raise AntiphonError(f"--input {input_path} does not exist")
    performer, _ = read_mono(Path(input_path), rate_hz=PERCEPTION_RATE_HZ)
    check_input(performer, PERCEPTION_RATE_HZ)
    agent.warm_up()
    result = run_rehearsal(agent, performer)
    bars = agent.decisions
    if not bars:
        raise AntiphonError("no beat found in the input: the arranger decided no bar; pass --tempo-bpm if it has a steady tempo")
    notes = announced_notes(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_audio(out_dir / "arrangement.wav", result.answer, result.rate_hz)
    heard, _ = read_mono(Path(input_path), rate_hz=result.rate_hz)
    heard = np.pad(heard, (0, max(0, len(result.answer) - len(heard))))[: len(result.answer)]
    mix = heard / max(float(np.max(np.abs(heard))), 1e-9) * 0.5 + result.answer * 10 ** (mix_level_db / 20)
    write_audio(out_dir / "mix.wav", (mix / max(1.0, float(np.max(np.abs(mix))) / 0.9)).astype(np.float32), result.rate_hz)
    write_parts_midi(out_dir / "arrangement.mid", [(agent.arranger.program, [(a, d, p, v) for a, d, p, v in notes])], bpm=60.0)
    compute = np.array([s.compute_s for s in result.steps]) * 1e3
    report = {
        "input": str(input_path), "live": True, "arranger": asdict(agent.arranger),
        "models": {"chords": str(agent.models.chords.path), "beats": str(agent.models.beats.path), "texture": str(agent.models.texture.path)},
        "input_s": round(result.input_s, 3), "wall_s": round(result.wall_s, 3), "speed_x_realtime": round(result.speed_x_realtime, 1),
        "compute_ms": {"p50": round(float(np.percentile(compute, 50)), 2), "p99": round(float(np.percentile(compute, 99)), 2)},
        "bars": [{"bar": b.index, "start_s": round(b.start_s, 3), "end_s": round(b.end_s, 3), "chord": class_label(b.chord) if b.chord != NO_CHORD else "N",
                  "notes": b.notes, "decided_ahead_ms": round(1e3 * b.ahead_s, 1), "tempo_bpm": round(b.bpm, 2)} for b in bars],
        "notes": len(notes),
    }
    write_json(out_dir / "arrangement.json", report)
    return report
