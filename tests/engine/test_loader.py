"""The loader thread: a client told a load's outcome may send its next load at once."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

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


def hostile_model(trained: Path, folder: Path, edit) -> Path:  # noqa: ANN001
    import json
    import shutil

    shutil.copytree(trained, folder)
    meta = json.loads((folder / "config.json").read_text())
    edit(meta)
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


def drained_kinds(voice) -> list[str]:  # noqa: ANN001
    kinds = []
    while not voice.commands.empty():
        kinds.append(voice.commands.get_nowait()[0])
    return kinds


def submit_and_wait(loader: Loader, voice, what: str, path: str) -> list[str]:  # noqa: ANN001
    """Submit one job; the reasons it reported (none when it loaded), once the loader has taken and
    answered another job after it (a missing input file: always reported), which a dead thread never does."""
    reasons: list[str] = []
    loader.submit(voice, what, path, reasons.append)
    probed = threading.Event()
    for _ in range(600):
        try:
            loader.submit(voice, "input", "/no/such/take.wav", lambda reason: probed.set())
            break
        except AntiphonError:  # still busy with the job
            probed.wait(0.05)
    assert probed.wait(30), f"the loader took no job after {what} {path} within 30 s (dead thread?); reported {reasons}"
    return reasons


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["corpus"]["perception"].update(layer="zero"), "corpus.perception.layer"),
        (lambda m: m["corpus"].pop("perception"), "corpus.perception"),
        (lambda m: m["model"].update(width=4_000_000), "width"),
    ],
    ids=["layer-zero", "no-perception", "width-4000000"],
)
def test_a_hostile_model_config_is_reported_and_the_loader_keeps_serving(trained: Path, tone_corpus: Path, tmp_path: Path, edit, field: str) -> None:  # noqa: ANN001
    voice = build_engine([AgentSpec(VoiceSpec("answer"), trained, tone_corpus)], EngineConfig(), StreamSettings()).voices[0]
    bad = hostile_model(trained, tmp_path / "hostile", edit)
    loader = Loader()
    try:
        reasons = submit_and_wait(loader, voice, "model", str(bad))
        assert len(reasons) == 1 and "\n" not in reasons[0], reasons
        assert reasons[0].startswith(f"{bad / 'config.json'}: ") and field in reasons[0], reasons
        assert submit_and_wait(loader, voice, "model", str(trained)) == []  # the next load is served
    finally:
        loader.close()
    assert drained_kinds(voice) == ["agent"]


def test_any_error_in_a_job_is_reported_logged_and_survived(trained: Path, tone_corpus: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    voice = build_engine([AgentSpec(VoiceSpec("answer"), trained, tone_corpus)], EngineConfig(), StreamSettings()).voices[0]
    real_build = Loader._build

    def build(voice, what: str, path: str):  # noqa: ANN001, ANN202 - a bug in a job: not an AntiphonError
        if path == "boom":
            raise KeyError("perception")
        return real_build(voice, what, path)

    monkeypatch.setattr(Loader, "_build", staticmethod(build))
    caplog.set_level(logging.WARNING, logger="agent.engine.loader")
    loader = Loader()
    try:
        reasons = submit_and_wait(loader, voice, "model", "boom")
        assert reasons == ["cannot load model boom: internal error (KeyError: 'perception'); the previous one keeps playing"], reasons
        assert submit_and_wait(loader, voice, "corpus", str(tone_corpus)) == []
    finally:
        loader.close()
    logged = [r for r in caplog.records if r.levelno == logging.WARNING and r.exc_info is not None]
    assert len(logged) == 1 and "boom" in logged[0].getMessage() and logged[0].exc_info[0] is KeyError
    assert drained_kinds(voice) == ["agent"]
