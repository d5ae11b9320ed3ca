"""The ``server`` fixture: an OSC server on a free port in front of a two-agent engine (workers
running, no audio stream), and a client bound to its own port. Both sockets are held at the kernel's
default receive buffer, the least any user gets (the server grows its own where the system lets it:
root's SO_RCVBUFFORCE, or up to net.core.rmem_max)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.engine.config import EngineConfig
from agent.engine.live import StreamSettings
from agent.engine.voice import VoiceSpec
from agent.osc.server import OscServer
from agent.serving import AgentSpec, build_engine
from tests.osc.osc_client import Client, default_receive_buffer_bytes, use_default_receive_buffer


@pytest.fixture
def server(trained: Path, tone_corpus: Path, tmp_path: Path):
    specs = [AgentSpec(VoiceSpec("answer"), trained, tone_corpus), AgentSpec(VoiceSpec("second"), trained, tone_corpus)]
    engine = build_engine(specs, EngineConfig(), StreamSettings())
    srv = OscServer(engine, port=0, reply_port=None, record_dir=tmp_path / "rec", status_every_s=60)
    assert use_default_receive_buffer(srv.sock) == default_receive_buffer_bytes()
    for v in engine.voices:
        v.start_worker()
    srv.start()
    client = Client(srv.address)
    assert client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == default_receive_buffer_bytes()
    yield srv, client
    client.close()
    srv.close()
    for v in engine.voices:
        v.stop_worker()
