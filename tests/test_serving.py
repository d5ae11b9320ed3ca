"""`antiphon serve` set-up: agent specs from the command line, refused in one line before anything loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent import paths
from agent.errors import AntiphonError
from agent.serving import parse_agent_spec


def test_agent_spec_is_parsed() -> None:
    spec = parse_agent_spec("name=bass, model=models/x, corpus=corpora/y, in=1, out=0")
    assert (spec.voice.name, spec.voice.input_channel, spec.voice.output_channel) == ("bass", 1, 0)
    assert spec.model == Path("models/x") and spec.corpus == Path("corpora/y")
    default = parse_agent_spec("name=solo")
    assert default.model == paths.DEFAULT_MODEL_DIR and default.corpus is None and default.voice.input_channel == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("model=models/x", "name=... is required"),
        ("name=a,colour=red", "expected comma-separated key=value"),
        ("name=a,in=left", "in and out are channel numbers"),
        ("name=", "expected comma-separated key=value"),
    ],
)
def test_bad_agent_spec_is_refused(text: str, reason: str) -> None:
    with pytest.raises(AntiphonError, match=reason):
        parse_agent_spec(text)


@pytest.mark.parametrize(("spec", "line"), [
    ("name=a,in=x", "error: --agent 'name=a,in=x': in and out are channel numbers (0-based)"),
    ("name=status", "error: agent name 'status' cannot be used in OSC addresses"),
])
def test_serve_refuses_a_bad_agent_in_one_line(spec: str, line: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "agent", "serve", "--agent", spec, "--no-osc"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stderr
