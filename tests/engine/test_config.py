"""Playing settings and stream settings: out-of-range values are refused in one line, before anything plays."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.live import LiveEngine, StreamSettings
from agent.engine.voice import VoiceSpec
from agent.errors import AntiphonError


@pytest.mark.parametrize(
    "field, value, match",
    [("crossfade_ms", 1.0, "crossfade_ms"), ("crossfade_ms", 500.0, "crossfade_ms"), ("gain_db", 40.0, "gain_db"),
     ("temperature", -1.0, "temperature"), ("top_p", 0.0, "top_p"), ("taboo_grains", -1, "taboo_grains"),
     ("output_lead_ms", 5000.0, "output_lead_ms"), ("hop_s", 0.05, "hop_s must be 0.1 to 0.5 or 0 s"), ("seed", -1, "seed"),
     ("taboo_grains", 2.5, "taboo_grains must be a whole number"), ("muted", 1, "muted must be true or false"),
     ("temperature", "1", "temperature must be a number")],
)
def test_out_of_range_settings_are_refused(field: str, value: float, match: str) -> None:
    with pytest.raises(AntiphonError, match=match):
        EngineConfig(**{field: value})


def test_cli_flag_out_of_range_is_one_line(tmp_path: Path) -> None:
    # a model folder that does not exist: the settings are refused before anything is loaded
    result = subprocess.run([sys.executable, "-m", "agent", "rehearse", "--input", str(tmp_path / "x.wav"), "--top-p", "2",
                             "--model", str(tmp_path / "no-model")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: top_p must be 0.01 to 1, got 2.0"]


def test_stream_settings_must_fit_the_agent(trained: Path, tone_corpus: Path) -> None:
    bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
    agent = AnswerAgent(bundle, corpus, perception, EngineConfig(), output_rate_hz=48_000)
    with pytest.raises(AntiphonError, match="renders at 48000 Hz but the stream runs at 44100 Hz"):
        LiveEngine.single(agent, StreamSettings(sample_rate_hz=44_100))
    with pytest.raises(AntiphonError, match="output_channel of agent 'answer' must be between 0 and 1"):
        LiveEngine.single(agent, StreamSettings(channels=2), VoiceSpec(output_channel=2))


def test_each_setting_is_offered_as_declared_on_the_command_line_and_over_osc() -> None:
    """One declaration per setting: the same range in the CLI's refusal and the OSC server's, and
    every setting either an option or an OSC address (or both)."""
    from agent.engine.config import cli_flag, setting_fields, spec_of
    from agent.osc.messages import Refused, resolve

    for f in setting_fields():
        spec = spec_of(f)
        assert spec.cli or spec.osc, f.name
        if spec.osc and f.name != "muted":
            bad = spec.high + 1000
            with pytest.raises(Refused, match=re.escape(f"(allowed {spec.range_text()})")):
                resolve(f"/antiphon/answer/{spec.osc}", [bad], {"answer"})
            assert resolve(f"/antiphon/answer/{spec.osc}", [f.default], {"answer"}).entry.setting == f.name
        if spec.cli:
            result = subprocess.run([sys.executable, "-m", "agent", "rehearse", "--input", "x.wav", "--model", "no-model", cli_flag(f), str(spec.high + 1000)],
                                    capture_output=True, text=True, timeout=60)
            got = int(spec.high + 1000) if f.type == "int" else float(spec.high + 1000)
            assert result.stderr.strip().splitlines() == [f"error: {f.name} must be {spec.range_text()}, got {got}"]
