import numpy as np
import pytest

from agent.chunking import ChunkingConfig, chunk_signal, make_chunker
from agent.errors import AntiphonError
from tests.conftest import note_train

RATE = 16_000


def _feed_in_blocks(signal: np.ndarray, config: ChunkingConfig, seed: int):
    rng = np.random.default_rng(seed)
    chunker = make_chunker(config)
    chunks, pos = [], 0
    while pos < len(signal):
        size = int(rng.integers(1, 900))
        chunks += chunker.push(signal[pos : pos + size])
        pos += size
    return chunks + chunker.flush()


def _assert_same_chunks(a, b) -> None:
    assert [(c.start, c.end) for c in a] == [(c.start, c.end) for c in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.samples, y.samples)


@pytest.mark.parametrize("hop_s", [0.1, 0.25, 0.35, 0.5])
def test_uniform_streaming_equals_offline(hop_s: float) -> None:
    signal = np.random.default_rng(1).standard_normal(RATE * 3 + 123).astype(np.float32)
    config = ChunkingConfig(hop_s=hop_s)
    offline = chunk_signal(signal, config)
    assert len(offline) == len(signal) // config.hop_samples
    assert all(c.end - c.start == config.hop_samples for c in offline)
    _assert_same_chunks(offline, _feed_in_blocks(signal, config, seed=2))


@pytest.mark.parametrize("seed", [3, 4])
def test_onset_streaming_equals_offline(seed: int) -> None:
    rng = np.random.default_rng(seed)
    signal = note_train(RATE, list(rng.integers(50, 80, 16)), 0.3, seed=seed)
    config = ChunkingConfig(mode="onset", min_segment_s=0.1, max_segment_s=1.0)
    offline = chunk_signal(signal, config)
    assert len(offline) > 5
    _assert_same_chunks(offline, _feed_in_blocks(signal, config, seed=seed + 10))


def test_onsets_found_at_note_starts() -> None:
    note_s = 0.4
    signal = note_train(RATE, [60, 64, 67, 72, 67, 64, 60, 55, 60, 62], note_s)
    chunks = chunk_signal(signal, ChunkingConfig(mode="onset", min_segment_s=0.1, max_segment_s=2.0))
    cuts = np.array([c.start for c in chunks[1:]]) / RATE
    truth = np.arange(1, 10) * note_s
    assert len(cuts) == len(truth), cuts
    assert np.max(np.abs(cuts - truth)) < 0.03


def test_onset_segments_respect_min_and_max_and_tile_the_signal() -> None:
    signal = np.concatenate([note_train(RATE, [60] * 6, 0.05), np.zeros(RATE * 3, dtype=np.float32)])
    config = ChunkingConfig(mode="onset", min_segment_s=0.12, max_segment_s=0.8)
    chunks = chunk_signal(signal, config)
    lengths = np.array([c.end - c.start for c in chunks])
    assert lengths.min() >= 0.12 * RATE and lengths.max() <= 0.8 * RATE
    assert (lengths == int(0.8 * RATE)).sum() >= 3  # the silent tail is cut at max length
    assert chunks[0].start == 0 and chunks[-1].end == len(signal)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hop_s": 0.05}, "hop_s must be between"),
        ({"hop_s": 0.7}, "hop_s must be between"),
        ({"mode": "beats"}, "chunking mode must be one of"),
        ({"min_segment_s": 1.0, "max_segment_s": 0.5}, "min_segment_s < max_segment_s"),
        ({"onset_sensitivity": 0.5}, "onset_sensitivity"),
    ],
)
def test_bad_config_is_refused(kwargs, message) -> None:
    with pytest.raises(AntiphonError, match=message):
        ChunkingConfig(**kwargs)
