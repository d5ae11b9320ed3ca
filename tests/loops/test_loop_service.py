"""The OSC server's loop worker on its own: a request is generated in the background and reported;
a failing one is refused in one line and the worker goes on; too many waiting are refused at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.errors import AntiphonError
from agent.loops import loop_service
from agent.loops.loop_request import LoopRequest
from agent.loops.loop_service import LoopService


def test_requests_run_in_the_background_and_are_reported(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, model = tiny_loop_models
    service = LoopService(model, tmp_path / "loops")
    done = threading.Event()
    reports: list[tuple[Path, int]] = []
    refusals: list[str] = []
    try:
        service.submit(LoopRequest(bpm=110.0, bars=1, count=2, steps=2), lambda f, n: (reports.append((f, n)), done.set()),
                       lambda r: (refusals.append(r), done.set()))
        assert done.wait(120)
    finally:
        service.close()
    assert not refusals
    (folder, count), = reports
    assert count == 2 and folder.parent == tmp_path / "loops" and folder.name.endswith("-110bpm")
    assert sorted(p.name for p in folder.glob("*.wav")) == ["loop-00-110bpm.wav", "loop-01-110bpm.wav"]


def test_a_failing_request_is_refused_and_the_worker_goes_on(tmp_path: Path) -> None:
    broken = LoopService(tmp_path / "no-model", tmp_path / "loops")
    done = threading.Event()
    refusals: list[str] = []
    try:
        for _ in range(2):  # the worker survives the first failure
            done.clear()
            broken.submit(LoopRequest(bpm=110.0, bars=1, count=1, steps=1), lambda f, n: done.set(), lambda r: (refusals.append(r), done.set()))
            assert done.wait(60)
    finally:
        broken.close()
    assert len(refusals) == 2 and all("loop diffusion model folder" in r and "does not exist" in r and "\n" not in r for r in refusals)
    assert not (tmp_path / "loops").exists()


def test_too_many_waiting_requests_are_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken, release = threading.Event(), threading.Event()

    def held(self, request):  # noqa: ANN001, ANN202
        taken.set()
        release.wait(30)
        return tmp_path, 0

    monkeypatch.setattr(LoopService, "generate", held)
    service = LoopService(tmp_path / "model", tmp_path / "loops")
    request = LoopRequest(bpm=110.0, bars=1, count=1)
    refused: list[str] = []
    reported: list[int] = []
    try:
        service.submit(request, lambda f, n: reported.append(n), refused.append)
        assert taken.wait(30)  # the worker holds the first request
        for _ in range(loop_service.MAX_PENDING):
            service.submit(request, lambda f, n: reported.append(n), refused.append)
        with pytest.raises(AntiphonError, match="loop requests are already waiting"):
            service.submit(request, lambda f, n: reported.append(n), refused.append)
    finally:
        release.set()
        service.close()
    # every accepted request is answered once: carried out, or refused because the server stopped
    assert len(reported) + len(refused) == 1 + loop_service.MAX_PENDING and len(reported) >= 1
    assert all("the server is stopping" in r for r in refused)
