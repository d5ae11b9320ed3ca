"""The ``server`` fixture: an OSC server on a free port in front of a two-agent engine (workers
running, no audio stream), and a client bound to its own port."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.engine.config import EngineConfig
from agent.engine.live import StreamSettings
from agent.engine.voice import VoiceSpec
from agent.osc.server import OscServer
from agent.serving import AgentSpec, build_engine
from tests.osc.osc_client import Client


@pytest.fixture
def server(trained: Path, tone_corpus: Path, tmp_path: Path):
    specs = [AgentSpec(VoiceSpec("answer"), trained, tone_corpus), AgentSpec(VoiceSpec("second"), trained, tone_corpus)]
    engine = build_engine(specs, EngineConfig(), StreamSettings())
    srv = OscServer(engine, port=0, reply_port=None, record_dir=tmp_path / "rec", status_every_s=60)
    for v in engine.voices:
        v.start_worker()
    srv.start()
    client = Client(srv.address)
    yield srv, client
    client.close()
    srv.close()
    for v in engine.voices:
        v.stop_worker()
