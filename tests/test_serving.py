"""`antiphon serve` set-up: agent specs from the command line, refused in one line before anything loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
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
    piano = parse_agent_spec("name=piano,kind=arranger,mode=performer,program=4,out=1")
    assert piano.kind == "arranger" and piano.arranger == {"mode": "performer", "program": "4"} and piano.voice.output_channel == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("model=models/x", "name=... is required"),
        ("name=a,colour=red", "expected comma-separated key=value"),
        ("name=a,in=left", "in and out are channel numbers"),
        ("name=", "expected comma-separated key=value"),
        ("name=p,kind=drums", "kind must be one of answer, arranger"),
        ("name=p,kind=arranger,model=models/x", "model is not a setting of an arranger agent"),
        ("name=p,mode=song", "mode is not a setting of an answer agent"),
    ],
)
def test_bad_agent_spec_is_refused(text: str, reason: str) -> None:
    with pytest.raises(AntiphonError, match=reason):
        parse_agent_spec(text)


@pytest.mark.parametrize(("spec", "line"), [
    ("name=a,in=x", "error: --agent 'name=a,in=x': in and out are channel numbers (0-based)"),
    ("name=status", "error: agent name 'status' cannot be used in OSC addresses"),
    ("name=p,kind=arranger,program=x", "error: agent 'p': program must be a General MIDI program number 0..127, got 'x'"),
    ("name=p,kind=arranger,mode=karaoke", "error: arranger: mode must be one of song, performer, got 'karaoke'"),
])
def test_serve_refuses_a_bad_agent_in_one_line(spec: str, line: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "agent", "serve", "--agent", spec, "--no-osc"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stderr


RECORDING_SCRIPT = """
import sys, time
from pathlib import Path

import numpy as np

from agent.engine.recorder import Recorder


class Voice:  # what the recorder reads of a voice: its rings and the play head, moving in real time
    name, rate_hz, capacity = "answer", 8000, 8000 * 8

    def __init__(self):
        self.in_ring = np.full(self.capacity, 0.25, np.float32)
        self.out_ring = np.full(self.capacity, -0.5, np.float32)
        self.started = time.monotonic()

    @property
    def out_read(self):
        return int((time.monotonic() - self.started) * self.rate_hz)


print(Recorder(Path(sys.argv[1])).start(Voice()), flush=True)
time.sleep(120)
"""


def wav_data_bytes(path: Path) -> int:
    """The size the WAV header gives its data chunk (what a strict reader plays)."""
    import struct

    data = path.read_bytes()
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            return size
        pos += 8 + size + (size & 1)
    raise AssertionError(f"{path}: no data chunk")


def test_a_recording_survives_a_crash_but_its_last_second(tmp_path: Path) -> None:
    """The issue: a crash left a recording whose WAV header said zero frames. Killed with SIGKILL (no
    Python clean-up at all), the file must hold all but about the last second, header included."""
    import time
    import warnings

    import scipy.io.wavfile
    import soundfile as sf

    proc = subprocess.Popen([sys.executable, "-c", RECORDING_SCRIPT, str(tmp_path / "rec")], stdout=subprocess.PIPE, text=True)
    try:
        path = Path(proc.stdout.readline().strip())
        started = time.monotonic()
        time.sleep(3.0)
        proc.kill()
        recorded_s = time.monotonic() - started
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    frames = wav_data_bytes(path) // (2 * 4)  # stereo float32
    assert (recorded_s - 1.2) * 8000 <= frames <= (recorded_s + 0.2) * 8000, (frames, recorded_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)  # libsndfile's PEAK chunk, unknown to scipy
        rate, audio = scipy.io.wavfile.read(path)  # a strict reader: believes the header
    assert rate == 8000 and audio.shape == (frames, 2)
    assert np.all(audio[:, 0] == 0.25) and np.all(audio[:, 1] == -0.5)  # input left, answer right
    assert sf.info(path).frames == frames
