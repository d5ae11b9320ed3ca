import numpy as np

from agent.perception import PerceptionConfig, load_perception
from agent.perception.dsp import N_MELS, N_MFCC
from tests.conftest import note_train

RATE = 16_000


def test_vector_shape_and_pitch_class() -> None:
    backend = load_perception(PerceptionConfig(backend="dsp"))
    a4 = note_train(RATE, [69], 0.25, harmonics=1)  # A: pitch class 9
    c5 = note_train(RATE, [72], 0.25, harmonics=1)  # C: pitch class 0
    fa, fc = backend.features(a4), backend.features(c5)
    assert fa.shape == (backend.dim,) and fa.dtype == np.float32
    chroma = slice(2 * N_MELS + 2 * N_MFCC, 2 * N_MELS + 2 * N_MFCC + 12)
    assert int(np.argmax(fa[chroma])) == 9
    assert int(np.argmax(fc[chroma])) == 0


def test_batch_equals_single_and_short_chunks_work() -> None:
    backend = load_perception(PerceptionConfig(backend="dsp"))
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(n).astype(np.float32) for n in (100, 1600, 4000)]
    batch = backend.features_batch(chunks)
    for row, chunk in zip(batch, chunks):
        np.testing.assert_array_equal(row, backend.features(chunk))
    assert np.all(np.isfinite(batch))
    assert np.all(np.isfinite(backend.features(np.zeros(4000, dtype=np.float32))))
