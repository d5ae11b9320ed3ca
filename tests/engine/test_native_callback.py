"""The C audio callback, called directly on numpy buffers as PortAudio calls it."""

from __future__ import annotations

import numpy as np
import pytest

from agent.engine.native.library import MAX_VOICES, build, engine_state, ffi, library_path, run_callback, source, voice_state
from agent.errors import AntiphonError

CAPACITY = 1000


class _Voice:
    """The shared state of one voice with its rings (as ``Voice`` sets it up, without an agent)."""

    def __init__(self, input_channel: int, output_channel: int) -> None:
        self.in_ring = np.zeros(CAPACITY, np.float32)
        self.out_ring = np.zeros(CAPACITY, np.float32)
        self.state = voice_state(self.in_ring, self.out_ring, input_channel, output_channel)

    def schedule(self, start: int, audio: np.ndarray) -> None:
        idx = np.arange(start, start + len(audio)) % CAPACITY
        self.out_ring[idx] = audio
        self.state.out_write = start + len(audio)


def _engine(voices: list[_Voice], channels: int):  # noqa: ANN202 - cdata
    return engine_state(channels, [v.state for v in voices])


def _blocks(frames: int, channels: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((frames, channels)).astype(np.float32) for _ in range(count)]


def test_input_channel_lands_in_the_ring_across_the_wrap() -> None:
    v = _Voice(input_channel=1, output_channel=0)
    engine = _engine([v], channels=2)
    blocks = _blocks(300, 2, 5)  # 1500 samples through a 1000-sample ring
    out = np.zeros((300, 2), np.float32)
    for b in blocks:
        assert run_callback(engine, b, out) == 0  # paContinue
    heard = np.concatenate([b[:, 1] for b in blocks])
    assert v.state.in_write == 1500
    np.testing.assert_array_equal(v.in_ring[np.arange(500, 1500) % CAPACITY], heard[500:])
    assert engine.callbacks == 5 and v.state.blocks == 5


def test_output_plays_what_is_scheduled_then_silence_and_counts_underruns() -> None:
    v = _Voice(0, 1)
    engine = _engine([v], channels=2)
    answer = np.linspace(0.1, 1.0, 450, dtype=np.float32)
    v.schedule(0, answer)
    v.state.scheduled = 1
    v.out_ring[450:600] = 7.0  # stale samples past what is scheduled must not play
    out = np.full((300, 2), 3.0, np.float32)  # whatever PortAudio hands in is overwritten
    played = []
    for b in _blocks(300, 2, 2):
        run_callback(engine, b, out)
        played.append(out.copy())
    played = np.concatenate(played)
    np.testing.assert_array_equal(played[:450, 1], answer)
    assert not played[450:, 1].any() and not played[:, 0].any()
    np.testing.assert_array_equal(v.out_ring[:600], played[:, 1])  # the ring holds what was played
    assert v.state.out_read == 600
    assert v.state.underruns == 1  # the second block ran past out_write


def test_no_underrun_counted_before_anything_is_scheduled() -> None:
    v = _Voice(0, 0)
    engine = _engine([v], channels=1)
    out = np.zeros((256, 1), np.float32)
    for b in _blocks(256, 1, 3):
        run_callback(engine, b, out)
    assert v.state.underruns == 0


def test_voices_mix_into_their_own_channels() -> None:
    a, b = _Voice(0, 0), _Voice(1, 0)
    c = _Voice(0, 1)
    engine = _engine([a, b, c], channels=2)
    for v, value in ((a, 0.25), (b, 0.5), (c, -1.0)):
        v.schedule(0, np.full(200, value, np.float32))
    out = np.zeros((200, 2), np.float32)
    block = _blocks(200, 2, 1)[0]
    run_callback(engine, block, out)
    np.testing.assert_allclose(out[:, 0], 0.75)
    np.testing.assert_allclose(out[:, 1], -1.0)
    np.testing.assert_array_equal(b.in_ring[:200], block[:, 1])
    np.testing.assert_array_equal(c.in_ring[:200], block[:, 0])


def test_a_streamed_input_file_replaces_the_input_channel_and_starves_to_silence() -> None:
    v = _Voice(0, 0)
    engine = _engine([v], channels=1)
    ring = np.zeros(64, np.float32)
    descriptor = source(ring)
    v.state.source = descriptor
    out = np.zeros((50, 1), np.float32)
    signal = np.arange(1, 121, dtype=np.float32)
    ring[:64] = signal[:64]
    descriptor.written = 64  # the worker wrote 64 samples
    run_callback(engine, _blocks(50, 1, 1)[0], out)
    np.testing.assert_array_equal(v.in_ring[:50], signal[:50])
    assert v.state.file_pos == 50 and v.state.starved == 0
    ring[:50] = signal[64:114]  # the ring wraps: samples 64..113 land where 0..49 were taken
    descriptor.written = 114
    run_callback(engine, _blocks(50, 1, 1)[0], out)
    np.testing.assert_array_equal(v.in_ring[50:100], signal[50:100])
    run_callback(engine, _blocks(50, 1, 1)[0], out)  # only 14 written samples left: the rest is silence, counted
    np.testing.assert_array_equal(v.in_ring[100:150], np.concatenate([signal[100:114], np.zeros(36, np.float32)]))
    assert v.state.file_pos == 114 and v.state.starved == 1
    v.state.source = ffi.NULL  # back to the input channel
    mic = _blocks(50, 1, 1, seed=3)[0]
    run_callback(engine, mic, out)
    np.testing.assert_array_equal(v.in_ring[150:200], mic[:, 0])
    assert v.state.file_pos == 0 and v.state.starved == 1  # the position belongs to the source playing


@pytest.mark.parametrize(("flags", "counted"), [(0x1, 1), (0x2, 1), (0x4, 1), (0x8, 0), (0x10, 0), (0x0, 0)])
def test_xrun_flags(flags: int, counted: int) -> None:
    voice = _Voice(0, 0)  # alive while the engine points at its state
    engine = _engine([voice], channels=1)
    out = np.zeros((64, 1), np.float32)
    run_callback(engine, np.zeros((64, 1), np.float32), out)
    run_callback(engine, np.zeros((64, 1), np.float32), out, status_flags=flags)
    assert engine.xruns == counted
    assert engine.last_xrun_callback == (1 if counted else -1)


def test_a_failing_compiler_is_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("CC", "false")
    with pytest.raises(AntiphonError, match="compiling the audio callback failed") as info:
        build(tmp_path / "x.so")
    assert "\n" not in str(info.value)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(AntiphonError, match="cannot run the C compiler"):
        build(tmp_path / "x.so")
    assert not list(tmp_path.iterdir())


def test_the_library_is_cached_per_source_version() -> None:
    assert library_path().is_file()  # loaded by the tests above
    assert library_path().name.startswith("antiphon-callback-") and MAX_VOICES == 16


def test_threads_that_load_the_library_at_once_build_it_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Two voices' workers may ask for the library in the same instant on a fresh cache."""
    import threading

    from agent.engine.native import library

    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    library._load_once.cache_clear()
    got, errors = [], []

    def ask() -> None:
        try:
            got.append(library.load())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(got) == 4 and all(lib is got[0] for lib in got)
        assert [p.name for p in (tmp_path / "native").iterdir()] == [library.library_path().name]  # no half-written file left
    finally:
        library._load_once.cache_clear()
