import numpy as np

from agent.decision.data import IGNORE_INDEX, random_crops, step_sequence

A = np.array([5, 6, 7, 8, 9])
B = np.array([0, 1, 2, 3, 4])


def test_step_sequence_without_anticipation() -> None:
    s = step_sequence("p", A, B, anticipation=0, start_token=16)
    np.testing.assert_array_equal(s.source, A)
    np.testing.assert_array_equal(s.answer_prev, [16, 0, 1, 2, 3])
    np.testing.assert_array_equal(s.target, B)


def test_step_sequence_with_anticipation_predicts_the_next_chunk() -> None:
    s = step_sequence("p", A, B, anticipation=1, start_token=16)
    np.testing.assert_array_equal(s.source, [5, 6, 7, 8])
    np.testing.assert_array_equal(s.answer_prev, [16, 1, 2, 3])  # at step t the agent is playing b[t]
    np.testing.assert_array_equal(s.target, [1, 2, 3, 4])


def test_random_crops_cover_every_step_and_keep_alignment() -> None:
    rng = np.random.default_rng(0)
    seqs = [step_sequence(f"p{i}", np.arange(n) % 16, (np.arange(n) + 3) % 16, 0, 16) for i, n in enumerate([50, 7, 33])]
    src, prev, tgt = random_crops(seqs, 10, rng, pad_token=16)
    assert src.shape == prev.shape == tgt.shape and src.shape[1] == 10
    valid = tgt != IGNORE_INDEX
    np.testing.assert_array_equal(tgt[valid], (src[valid] + 3) % 16)
    assert valid.sum() == 50 + 7 + 33  # every step in exactly one crop
    # padding only ever comes after the real steps of a crop
    for row in valid:
        assert not np.any(np.diff(row.astype(int)) > 0)
