"""The loader thread: a client told a load's outcome may send its next load at once."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.engine.config import EngineConfig
from agent.engine.live import StreamSettings
from agent.engine.loader import Loader
from agent.engine.voice import VoiceSpec
from agent.errors import AntiphonError
from agent.serving import AgentSpec, build_engine


def test_the_next_load_is_accepted_as_soon_as_the_outcome_is_reported(trained: Path, tone_corpus: Path, session_tone_pairs: Path,
                                                                         tmp_path: Path) -> None:
    voice = build_engine([AgentSpec(VoiceSpec("answer"), trained, tone_corpus)], EngineConfig(), StreamSettings()).voices[0]
    loader = Loader()
    take = str(session_tone_pairs / "piece1" / "melody.flac")
    answers: list[str] = []
    done = threading.Event()

    def then_load_the_input(reason: str) -> None:  # what a client does on /antiphon/error: its next command
        answers.append(reason)
        try:
            loader.submit(voice, "input", take, lambda r: answers.append(r))
            answers.append("accepted")
        except AntiphonError as exc:
            answers.append(str(exc))
        done.set()

    try:
        loader.submit(voice, "corpus", str(tmp_path / "missing"), then_load_the_input)
        assert done.wait(30)
        assert answers[1:] == ["accepted"], answers
        assert "does not exist" in answers[0]
    finally:
        loader.close()
    kinds = []
    while not voice.commands.empty():
        kinds.append(voice.commands.get_nowait()[0])
    assert kinds == ["input"]  # the input file was read and queued to the voice
