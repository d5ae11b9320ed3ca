"""Rehearsal end to end with a real model folder and corpus on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.rehearsal import BLOCK_SAMPLES, run_rehearsal


def agent_for(trained: Path, tone_corpus: Path, **config) -> AnswerAgent:
    bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
    return AnswerAgent(bundle, corpus, perception, EngineConfig(**config))


def test_rehearsal_is_deterministic_under_a_seed(trained: Path, tone_corpus: Path, session_tone_pairs: Path) -> None:
    take, _ = read_mono(session_tone_pairs / "piece2" / "melody.flac", PERCEPTION_RATE_HZ)
    one = run_rehearsal(agent_for(trained, tone_corpus, temperature=1.0, top_p=1.0, seed=3), take)
    two = run_rehearsal(agent_for(trained, tone_corpus, temperature=1.0, top_p=1.0, seed=3), take)
    other = run_rehearsal(agent_for(trained, tone_corpus, temperature=1.0, top_p=1.0, seed=4), take)
    np.testing.assert_array_equal(one.answer, two.answer)
    assert [s.grain for s in one.steps] == [s.grain for s in two.steps]
    assert [s.predicted_label for s in one.steps] != [s.predicted_label for s in other.steps]
    assert len(one.steps) == 48  # 12 s at hop 0.25 s


def test_the_answer_is_made_of_corpus_grains(trained: Path, tone_corpus: Path, session_tone_pairs: Path) -> None:
    agent = agent_for(trained, tone_corpus, temperature=0.0, crossfade_ms=10.0)
    take, _ = read_mono(session_tone_pairs / "piece2" / "melody.flac", PERCEPTION_RATE_HZ)
    result = run_rehearsal(agent, take)
    assert np.sqrt(np.mean(result.answer**2)) > 0.01  # not silent
    g = agent.corpus.grains
    audio = [read_mono(agent.corpus.path / p["audio"])[0] for p in agent.corpus.manifest["pieces"]]  # as decoded from the files
    xf = int(0.010 * result.rate_hz)
    first = result.slot_starts[0]
    lead = int(round(agent.config.output_lead_ms * 1e-3 * result.rate_hz))
    block = int(round(BLOCK_SAMPLES * result.rate_hz / PERCEPTION_RATE_HZ))
    late = first - (int(round(result.steps[0].time_s * result.rate_hz)) + lead)
    assert 0 <= late < block  # one lead after the input block that completed the deciding chunk
    assert np.all(result.answer[:first] == 0)  # before the first decision: nothing to answer yet
    cursor = first
    for step, start in zip(result.steps[:-1], result.slot_starts[:-1]):
        assert start == cursor  # slots follow one another without a gap
        source = audio[g.piece[step.grain]][g.start_sample[step.grain] : g.end_sample[step.grain]]
        played = result.answer[cursor : cursor + len(source)]
        np.testing.assert_array_equal(played[xf:], source[xf : len(played)])  # after the crossfade: the grain itself
        cursor += len(source)


def test_rehearse_command_writes_everything(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    take = session_tone_pairs / "piece0" / "melody.wav"  # 44.1 kHz stereo: resampled and mixed down
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-q", "rehearse", "--model", str(trained), "--corpus", str(tone_corpus), "--input", str(take), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "x real time" in result.stdout
    trace = json.loads((out / "trace.json").read_text())
    assert len(trace["chunks"]) == 48 and {"input_label", "predicted_label", "grain", "fallback", "compute_ms"} <= set(trace["chunks"][0])
    stereo, rate = sf.read(out / "mix-stereo.wav")
    answer, _ = sf.read(out / "answer.wav")
    assert stereo.shape[1] == 2 and rate == 44_100
    np.testing.assert_allclose(stereo[:, 1], answer, atol=1e-4)
    assert (out / "mix.wav").is_file() and (out / "trace.png").stat().st_size > 10_000


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=120)


def test_bad_inputs_are_refused_in_one_line(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    missing = run_cli("rehearse", "--model", str(trained), "--corpus", str(tone_corpus), "--input", str(tmp_path / "none.wav"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and "none.wav" in missing.stderr
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    unreadable = run_cli("rehearse", "--model", str(trained), "--corpus", str(tone_corpus), "--input", str(bad), "--out", str(tmp_path / "o"))
    assert unreadable.returncode == 2 and len(unreadable.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    good = session_tone_pairs / "piece2" / "melody.flac"
    no_corpus = run_cli("rehearse", "--model", str(trained), "--corpus", str(empty), "--input", str(good), "--out", str(tmp_path / "o"))
    assert no_corpus.returncode == 2 and "manifest.json: missing" in no_corpus.stderr
    assert not (tmp_path / "o").exists()
