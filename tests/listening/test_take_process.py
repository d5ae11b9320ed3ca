"""The take's fit worked out in a child process: the same figures as in process, one-line failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.audio_io import read_mono
from agent.errors import AntiphonError
from agent.listening.fit import take_listening
from agent.listening.take_process import TakeListening
from agent.listening.tracks import ANALYSIS_RATE_HZ, analyse


def test_the_child_gives_the_in_process_figures(session_tone_pairs: Path) -> None:
    take, answer = session_tone_pairs / "piece2" / "melody.flac", session_tone_pairs / "piece2" / "bass.flac"
    child = TakeListening.start(take)
    child.send(answer)
    got = child.result()
    samples, rate = read_mono(answer)
    want = take_listening(analyse(read_mono(take, ANALYSIS_RATE_HZ)[0], ANALYSIS_RATE_HZ), analyse(samples, rate))
    assert got == want and got["consonance"]["matched"] is not None


def test_an_unreadable_answer_is_a_one_line_error(session_tone_pairs: Path, tmp_path: Path) -> None:
    bad = tmp_path / "answer.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    child = TakeListening.start(session_tone_pairs / "piece2" / "melody.flac")
    child.send(bad)
    with pytest.raises(AntiphonError, match="the listening analysis failed: .*cannot read audio") as info:
        child.result()
    assert "\n" not in str(info.value)
