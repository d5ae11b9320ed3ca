"""`antiphon serve`: one audio stream, one or more answering agents, the OSC server, until told to stop.

An agent is given on the command line as ``--agent name=bass,model=models/x,corpus=corpora/y,in=0,out=1``
(repeatable); without ``--agent`` there is one agent named ``answer`` made of ``--model``,
``--corpus``, ``--input-channel`` and ``--output-channel``. ``kind=arranger`` makes an arranger
agent instead (agent/engine/arranger_agent.py), which answers with piano notes:
``--agent name=piano,kind=arranger,mode=song,program=0,in=0,out=1`` (``mode=performer`` hears a
melody alone; ``chords=``, ``beats=``, ``texture=``, ``forecast=`` name other model folders than the shipped ones).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent import paths
from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.live import LiveEngine, StreamSettings
from agent.engine.voice import Voice, VoiceSpec
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

SPEC_KEYS = ("name", "kind", "model", "corpus", "in", "out", "mode", "program", "chords", "beats", "texture", "forecast")
KINDS = ("answer", "arranger")
ANSWER_KEYS = {"model", "corpus"}
ARRANGER_KEYS = {"mode", "program", "chords", "beats", "texture", "forecast"}


@dataclass(frozen=True)
class AgentSpec:
    voice: VoiceSpec
    model: Path
    corpus: Path | None
    kind: str = "answer"
    arranger: dict[str, str] = field(default_factory=dict)  # mode, program, chords, beats, texture as given


def parse_agent_spec(text: str) -> AgentSpec:
    """``name=bass,model=DIR,corpus=DIR,in=0,out=1`` or ``name=piano,kind=arranger,mode=song,program=0``
    (only name is required)."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in SPEC_KEYS or not value.strip():
            raise AntiphonError(f"--agent '{text}': expected comma-separated key=value with keys {', '.join(SPEC_KEYS)}")
        fields[key] = value.strip()
    if "name" not in fields:
        raise AntiphonError(f"--agent '{text}': name=... is required")
    kind = fields.get("kind", "answer")
    if kind not in KINDS:
        raise AntiphonError(f"--agent '{text}': kind must be one of {', '.join(KINDS)}, got {kind!r}")
    wrong = sorted(set(fields) & (ANSWER_KEYS if kind == "arranger" else ARRANGER_KEYS))
    if wrong:
        raise AntiphonError(f"--agent '{text}': {', '.join(wrong)} is not a setting of an {kind} agent")
    try:
        channels = int(fields.get("in", 0)), int(fields.get("out", 0))
    except ValueError:
        raise AntiphonError(f"--agent '{text}': in and out are channel numbers (0-based)") from None
    return AgentSpec(VoiceSpec(fields["name"], *channels), Path(fields.get("model", paths.DEFAULT_MODEL_DIR)),
                     Path(fields["corpus"]) if "corpus" in fields else None, kind, {k: v for k, v in fields.items() if k in ARRANGER_KEYS})


def build_arranger(spec: AgentSpec, config: EngineConfig, rate_hz: int):  # noqa: ANN201 - agent.engine.arranger_agent.ArrangerAgent
    """The arranger agent of a spec (imported here: answer-only servers do not load the arranger's stack)."""
    from agent.engine.arranger_agent import ArrangerConfig, load_arranger

    a = spec.arranger
    try:
        program = int(a.get("program", 0))
    except ValueError:
        raise AntiphonError(f"agent '{spec.voice.name}': program must be a General MIDI program number 0..127, got {a['program']!r}") from None
    arranger = ArrangerConfig(mode=a.get("mode", "song"), program=program)
    models = {k: Path(a[k]) for k in ("chords", "beats", "texture", "forecast") if k in a}
    return load_arranger(arranger, replace(config, hop_s=0.0), rate_hz, **models)


def build_engine(specs: list[AgentSpec], config: EngineConfig, settings: StreamSettings, keep_trace: bool = False) -> LiveEngine:
    from agent.osc.server import check_agent_names

    check_agent_names([s.voice.name for s in specs])
    voices = []
    for spec in specs:
        if spec.kind == "arranger":
            voices.append(Voice(spec.voice, build_arranger(spec, config, settings.sample_rate_hz), settings.sample_rate_hz, settings.block_frames, keep_trace))
            log.info("agent %s: arranger (%s mode), input channel %d -> output channel %d", spec.voice.name, spec.arranger.get("mode", "song"),
                     spec.voice.input_channel, spec.voice.output_channel)
            continue
        bundle, corpus, perception = load_agent_parts(spec.model, spec.corpus)
        agent = AnswerAgent(bundle, corpus, perception, config, output_rate_hz=settings.sample_rate_hz)
        voices.append(Voice(spec.voice, agent, settings.sample_rate_hz, settings.block_frames, keep_trace))
        log.info("agent %s: model %s, corpus %s, input channel %d -> output channel %d", spec.voice.name, bundle.path.name,
                 corpus.path.name, spec.voice.input_channel, spec.voice.output_channel)
    return LiveEngine(voices, settings)


def run(engine: LiveEngine, osc: dict | None, answering: bool, duration_s: float | None, status_every_s: float, trace_dir: Path | None) -> None:
    """Start audio (and OSC when ``osc`` holds the server's settings); run until the duration, /antiphon/quit or Ctrl-C."""
    from agent.osc.server import STATUS_LINE, OscServer

    server = OscServer(engine, **osc) if osc is not None else None  # bind before audio starts: a busy port fails fast
    engine.start(answering=answering)
    if server is not None:
        server.start()
    log.info("listening (Ctrl-C to stop): %d Hz, %d-frame blocks, agents %s", engine.settings.sample_rate_hz,
             engine.settings.block_frames, ", ".join(v.name for v in engine.voices))
    started = time.monotonic()
    next_line = started + status_every_s
    try:
        while duration_s is None or time.monotonic() - started < duration_s:
            if server is not None and server.quit.is_set():
                break
            time.sleep(0.05)
            if time.monotonic() >= next_line:
                next_line += status_every_s
                log.info("%s", engine.status_line(), extra={STATUS_LINE: True})
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.close()
        engine.stop()
    log.info("stopped: %s", engine.status_line())
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        for path in engine.write_trace(trace_dir):
            log.info("wrote %s", path)
