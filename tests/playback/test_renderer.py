import numpy as np

from agent.playback.renderer import GrainRenderer

RATE = 16_000


def tones() -> tuple[np.ndarray, ...]:
    t = np.arange(RATE * 2) / RATE
    return (0.5 * np.sin(2 * np.pi * 220 * t).astype(np.float32), 0.5 * np.sin(2 * np.pi * 331 * t + 1.0).astype(np.float32))


def grains(hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts = np.arange(0, RATE * 2 - hop, hop)
    piece = np.concatenate([np.zeros(len(starts), int), np.ones(len(starts), int)])
    start = np.concatenate([starts, starts])
    return piece, start, start + hop


def test_joints_are_no_sharper_than_the_grains_own_content() -> None:
    hop = RATE // 4
    piece, start, end = grains(hop)
    renderer = GrainRenderer(tones(), piece, start, end, crossfade_samples=int(0.02 * RATE))
    rng = np.random.default_rng(0)
    order = rng.integers(0, len(piece), 40)  # jumps between pieces and positions: every joint a crossfade
    out = np.concatenate([renderer.render(int(g), contiguous=False) for g in order])
    own = max(np.max(np.abs(np.diff(a))) for a in tones())
    joints = np.arange(1, len(order)) * hop
    at_joints = np.max(np.abs(out[joints] - out[joints - 1]))
    assert at_joints <= own * 1.05, (at_joints, own)
    # inside a crossfade two grains sound together: |d(a sin + b cos)| <= sqrt(2) max(|da|, |db|)
    assert np.max(np.abs(np.diff(out))) <= own * np.sqrt(2) * 1.05
    # a hard cut (crossfade of 1 sample) does click: the check above can fail
    hard = GrainRenderer(tones(), piece, start, end, crossfade_samples=1)
    cut = np.concatenate([hard.render(int(g), contiguous=False) for g in order])
    assert np.max(np.abs(cut[joints] - cut[joints - 1])) > own * 3


def test_contiguous_grains_reproduce_the_recording_exactly() -> None:
    hop = RATE // 4
    piece, start, end = grains(hop)
    renderer = GrainRenderer(tones(), piece, start, end, crossfade_samples=320)
    first = renderer.render(0, contiguous=False)
    rest = [renderer.render(g, contiguous=True) for g in range(1, 5)]
    np.testing.assert_array_equal(np.concatenate(rest), tones()[0][hop : 5 * hop])
    assert len(first) == hop


def test_equal_power_fades() -> None:
    r = GrainRenderer(tones(), *grains(4000), crossfade_samples=400)
    np.testing.assert_allclose(r.fade_in**2 + r.fade_out**2, 1.0, atol=1e-6)


def grains_to_the_end(hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grains covering each piece up to its last sample."""
    starts = np.arange(0, RATE * 2, hop)
    return np.repeat([0, 1], len(starts)), np.tile(starts, 2), np.tile(starts + hop, 2)


def test_a_slot_longer_than_the_last_grain_of_a_piece_is_not_cut_short() -> None:
    hop = RATE // 4
    piece, start, end = grains_to_the_end(hop)
    renderer = GrainRenderer(tones(), piece, start, end, crossfade_samples=int(0.01 * RATE))
    renderer.set_slot(int(0.3 * RATE))  # a hop of 0.3 s over grains of 0.25 s
    last = int(np.nonzero(piece == 0)[0][-1])
    slot = renderer.render(last, contiguous=False)
    assert len(slot) == int(0.3 * RATE)
    assert np.abs(slot[-int(0.06 * RATE) :]).reshape(-1, 80).max(axis=1).min() > 0.1  # sound to its very end
    np.testing.assert_array_equal(renderer.peek(last), tones()[0][-int(0.3 * RATE) :])  # it ends where the piece ends


def test_the_continuation_after_a_piece_ends_is_its_last_grain_again() -> None:
    hop = RATE // 4
    piece, start, end = grains_to_the_end(hop)
    renderer = GrainRenderer(tones(), piece, start, end, crossfade_samples=int(0.01 * RATE))
    audio = tones()[1]
    n = len(audio)
    after = renderer.continuation(1, n - 100, 2 * hop + 100)
    np.testing.assert_array_equal(after[:100], audio[n - 100 :])
    np.testing.assert_array_equal(after[100 : 100 + hop], audio[n - hop :])  # the last grain, then again
    np.testing.assert_array_equal(after[100 + hop :], audio[n - hop :])
