"""Every live change while the agent plays on JACK (dummy driver): decisions go on, no gap in the answer.

A take is played into `antiphon serve` by the player process (tests/engine/jack_player.py), which
records what the agent plays. Meanwhile an OSC client changes, one after the other, every setting
of the address table, the hop (longer, shorter, the model's own again), reloads the model and the
corpus, and switches the input to a file and back to the microphone. Afterwards: every change was
confirmed, decisions came all along, nothing was skipped or re-anchored, no underrun, and the
recorded answer has no silent stretch longer than one crossfade from its first sound to the end of
the take.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.engine.jack_session import PLAYER_CLIENT, check_xruns, play_through_serve, start_jackd
from tests.osc.osc_client import Client, Replies

pytestmark = pytest.mark.real_program("jackd", "jackd2")

RATE_HZ = 48_000
CHANGE_EVERY_S = 0.4
SILENT = 1e-4  # |sample| below this counts as silence (the tone corpus's notes never decay this far)


def allow(*folders: Path) -> list[str]:
    """serve's options letting OSC read these folders (the test's models, corpora and takes)."""
    return [arg for folder in folders for arg in ("--allow-dir", str(folder))]


def changes(trained: Path, tone_corpus: Path, other_input: Path) -> list[tuple[str, object, str, str]]:
    """(address suffix, value, reply address, what the reply names) in the order sent."""
    return [
        ("hop", 0.3, "/antiphon/event/set", "hop_s"),
        ("temperature", 0.3, "/antiphon/event/set", "temperature"),
        ("crossfade", 30.0, "/antiphon/event/set", "crossfade_ms"),
        ("hop", 0.15, "/antiphon/event/set", "hop_s"),
        ("top_p", 0.5, "/antiphon/event/set", "top_p"),
        ("taboo", 2, "/antiphon/event/set", "taboo_grains"),
        ("gain", -6.0, "/antiphon/event/set", "gain_db"),
        ("model", str(trained), "/antiphon/event/loaded", "model"),
        ("hop", 0.0, "/antiphon/event/set", "hop_s"),
        ("corpus", str(tone_corpus), "/antiphon/event/loaded", "corpus"),
        ("input", str(other_input), "/antiphon/event/loaded", "input"),
        ("input", "mic", "/antiphon/event/loaded", "input"),
    ]


def test_every_live_change_keeps_the_agent_answering(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    take = session_tone_pairs / "piece2" / "melody.flac"  # 12 s
    serve_log = tmp_path / "serve.log"
    trace_dir = tmp_path / "trace"
    plan = changes(trained, tone_corpus, session_tone_pairs / "piece1" / "melody.flac")
    done: dict[str, object] = {}
    jack = start_jackd(log=tmp_path / "jackd.log")

    def control() -> None:
        """Runs beside the take: waits for the player's stream, then makes every change in turn."""
        try:
            port = osc_port_in_log(serve_log)
            client = Client(("127.0.0.1", port))
            replies = Replies(client)
            client.send("/antiphon/register", client.port)
            jack.wait_port(f"{PLAYER_CLIENT}:in_0")
            time.sleep(2.0)  # the take is playing and the agent answering it
            confirmed = []
            done["times"] = times = []
            t0 = time.monotonic() - 2.0
            for command, value, reply, what in plan:
                before = replies.count(reply)
                steps_before = replies.statuses.get("answer", [0] * 10)[9]
                client.send(f"/antiphon/answer/{command}", value)
                times.append(f"{command}@{time.monotonic() - t0:.2f}")
                replies.wait(lambda r=reply, b=before: replies.count(r) > b, timeout_s=10)
                confirmed.append((command, replies.last[reply][1]))
                time.sleep(CHANGE_EVERY_S)
                client.send("/antiphon/status")
                replies.wait(lambda s=steps_before: replies.statuses.get("answer", [0] * 10)[9] > s, timeout_s=5)
            done["confirmed"] = confirmed
            done["errors"] = replies.count("/antiphon/error")
            replies.stop()
            client.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            done["failure"] = exc

    thread = threading.Thread(target=control, name="osc-changes", daemon=True)
    recording = tmp_path / "recorded.wav"
    try:
        thread.start()
        run = play_through_serve(jack, ["--model", str(trained), "--corpus", str(tone_corpus), "--osc-port", "0", "--reply-port", "0",
                                        "--status-every-s", "0.5", "--trace-dir", str(trace_dir),
                                        *allow(trained, tone_corpus, session_tone_pairs)],
                                 take, recording, tail_s=3.0, serve_log=serve_log)
        thread.join(timeout=60)
    finally:
        jack.stop()
    assert not thread.is_alive(), "the OSC client was still making changes after the take"
    assert "failure" not in done, f"the OSC client failed: {done.get('failure')!r}\n{serve_log.read_text()[-3000:]}"
    assert done["errors"] == 0, serve_log.read_text()[-3000:]
    assert [c for c, _ in done["confirmed"]] == [c for c, *_ in plan]

    final = [line for line in run.serve_log.splitlines() if line.startswith("stopped:")][-1]
    status = json.loads((trace_dir / "live-trace.json").read_text())["status"]
    check_xruns(jack.log, int(re.search(r"xruns (\d+) ", final).group(1)), final)
    assert re.search(r"underruns 0 ", final), final
    assert re.search(r"skipped 0 ", final), final
    assert status["resyncs"] == 0, status

    # decisions all along: slots never further apart than the longest hop plus one lead (a decision
    # that came late, during a reload, lands one lead after the play head: the continuation covered it)
    chunks = json.loads((trace_dir / "live-trace.json").read_text())["chunks"]
    placed = np.array([c["output_sample"] for c in chunks]) / RATE_HZ
    assert np.max(np.diff(placed)) <= 0.3 + 0.080 + 2 * 256 / RATE_HZ, f"slots {np.max(np.diff(placed)):.3f} s apart"

    # the answer as the player recorded it: no silence longer than a crossfade, first sound to the take's end
    recorded, rate = sf.read(recording, dtype="float32")
    assert rate == RATE_HZ
    end = run.take_start_frame + int(sf.info(take).duration * RATE_HZ)
    loud = np.nonzero(np.abs(recorded) > SILENT)[0]
    assert len(loud) and loud[0] < run.take_start_frame, "the answer had not begun when the take started"
    quiet = np.abs(recorded[loud[0] : end]) <= SILENT
    longest = _longest_run(quiet)
    where = (loud[0] + _longest_run_start(quiet) - run.take_start_frame) / RATE_HZ
    assert longest <= int(0.030 * RATE_HZ), (f"a silent gap of {1e3 * longest / RATE_HZ:.1f} ms in the answer, {where:.2f} s into the take; "
                                             f"changes at {done['times']}")


def _longest_run_start(mask: np.ndarray) -> int:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return int(starts[np.argmax(ends - starts)]) if len(starts) else 0


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int(np.max(np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]))


def osc_port_in_log(log: Path, timeout_s: float = 90.0) -> int:
    """The UDP port `antiphon serve --osc-port 0` bound, once its log says so ("OSC on HOST:PORT")."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        if m := re.search(r"^OSC on [^:\s]+:(\d+),", text, flags=re.MULTILINE):
            return int(m.group(1))
        time.sleep(0.1)
    raise AssertionError(f"antiphon serve did not listen for OSC within {timeout_s:.0f} s")
