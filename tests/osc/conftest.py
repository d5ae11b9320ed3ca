"""The ``server`` fixture: an OSC server on a free port in front of a two-agent engine (workers
running, no audio stream), and a client bound to its own port. Both sockets are held at the kernel's
default receive buffer, the least any user gets (the server grows its own where the system lets it:
root's SO_RCVBUFFORCE, or up to net.core.rmem_max). ``osc_server`` makes one with other options."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from agent.engine.config import EngineConfig
from agent.engine.live import StreamSettings
from agent.engine.voice import VoiceSpec
from agent.osc.server import OscServer
from agent.serving import AgentSpec, build_engine
from tests.osc.osc_client import Client, default_receive_buffer_bytes, use_default_receive_buffer


@contextmanager
def osc_server(trained: Path, tone_corpus: Path, **options) -> Iterator[tuple[OscServer, Client]]:  # noqa: ANN003
    """A started server (agents 'answer' and 'second', status every minute) and a client; ``options`` go to OscServer."""
    specs = [AgentSpec(VoiceSpec("answer"), trained, tone_corpus), AgentSpec(VoiceSpec("second"), trained, tone_corpus)]
    engine = build_engine(specs, EngineConfig(), StreamSettings())
    srv = OscServer(engine, port=0, reply_port=None, status_every_s=60, **options)
    assert use_default_receive_buffer(srv.sock) == default_receive_buffer_bytes()
    for v in engine.voices:
        v.start_worker()
    srv.start()
    client = Client(srv.address)
    assert client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == default_receive_buffer_bytes()
    try:
        yield srv, client
    finally:
        client.close()
        srv.close()
        for v in engine.voices:
            v.stop_worker()


@pytest.fixture
def server(trained: Path, tone_corpus: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """Quit and recording enabled; OSC may load anything under the session's temporary folder (the
    tests' models, corpora and takes)."""
    with osc_server(trained, tone_corpus, record_dir=tmp_path / "rec", allow_quit=True,
                    allowed_dirs=(tmp_path_factory.getbasetemp(),)) as both:
        yield both
