import numpy as np
import pytest

from agent.engine.grain_selection import GrainSelector, mean_run_length
from agent.errors import AntiphonError

# two pieces of 4 grains; labels per grain; 1-D features equal to the grain index
PIECE = np.array([0, 0, 0, 0, 1, 1, 1, 1])
LABEL = np.array([0, 0, 1, 2, 0, 1, 1, 2])
FEATURE = np.arange(8, dtype=np.float32)[:, None]
CENTROIDS = np.array([[0.0], [1.0], [2.0], [3.2]], dtype=np.float32)  # label 3 has no grain


def selector(**kw) -> GrainSelector:
    return GrainSelector(PIECE, LABEL, FEATURE, CENTROIDS, **kw)


def test_contiguity_is_preferred() -> None:
    s = selector(taboo_grains=0)
    first = s.choose(0)
    assert not first.contiguous and LABEL[first.grain] == 0
    s.last = 0
    nxt = s.choose(0)
    assert nxt.grain == 1 and nxt.contiguous
    nxt = s.choose(1)
    assert nxt.grain == 2 and nxt.contiguous


def test_nearest_in_feature_space_when_continuation_has_another_label() -> None:
    s = selector(taboo_grains=0)
    s.last = 4  # piece 1, label 0; its successor (5) has label 1
    c = s.choose(2)  # label 2 lives at grains 3 and 7; nearest to grain 5's feature is 3 (|3-5| = |7-5|, first wins) or 7
    assert c.grain in (3, 7) and not c.contiguous and not c.fallback


def test_missing_label_falls_back_to_nearest_label_and_counts_it() -> None:
    s = selector()
    c = s.choose(3)
    assert c.fallback and c.label == 2 and LABEL[c.grain] == 2


def test_taboo_window_avoids_recent_grains() -> None:
    s = selector(taboo_grains=1)
    g1 = s.choose(2).grain
    s.last = None
    g2 = s.choose(2).grain
    assert g1 != g2


def test_excluded_pieces_are_never_played() -> None:
    s = selector(allowed=PIECE == 1)
    for label in [0, 1, 2, 3, 0, 0, 1]:
        assert PIECE[s.choose(label).grain] == 1
    with pytest.raises(AntiphonError, match="no grain"):
        selector(allowed=np.zeros(8, bool))


def test_mean_run_length() -> None:
    s = selector(taboo_grains=0)
    choices = [s.choose(x) for x in [0, 0, 1, 2, 2]]
    assert mean_run_length(choices) == len(choices) / (1 + sum(not c.contiguous for c in choices[1:]))


def test_scored_choice_greedy_taboo_continuation_and_excluded_pieces() -> None:
    rng = np.random.default_rng(0)
    s = selector(taboo_grains=2)
    scores = np.array([0.0, 1.0, 5.0, 0.5, 4.0, 3.0, 0.0, 0.0])
    first = s.choose_scored(scores, 0.0, 1.0, rng)
    assert first.grain == 2 and not first.contiguous and first.label == LABEL[2]
    # next: grain 3 continues grain 2 but scores 0.5, far below the best left (4.0): not kept
    second = s.choose_scored(scores, 0.0, 1.0, rng)
    assert second.grain == 4 and not second.contiguous  # 2 is taboo now
    # grain 5 continues 4 and scores 3.0 against a best of 5.0 (taboo) / 4.0 (taboo): it is the best allowed
    third = s.choose_scored(scores, 0.0, 1.0, rng)
    assert third.grain == 5 and third.contiguous
    # a continuation within the margin (1 logit) of a better grain is kept
    s2 = selector(taboo_grains=0)
    s2.last = 4
    close = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.5, 0.0, 3.2])
    assert s2.choose_scored(close, 0.0, 1.0, rng).grain == 5
    s2.last = 4
    far = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.2])
    assert s2.choose_scored(far, 0.0, 1.0, rng).grain == 7
    # excluded pieces are never played, whatever they score
    s3 = GrainSelector(PIECE, LABEL, FEATURE, CENTROIDS, allowed=PIECE == 1, taboo_grains=0)
    assert s3.choose_scored(np.array([9.0, 9.0, 9.0, 9.0, 0.0, 1.0, 0.0, 0.0]), 0.0, 1.0, rng).grain == 5
    # sampling stays among the allowed candidates and follows the scores
    picks = [GrainSelector(PIECE, LABEL, FEATURE, CENTROIDS, taboo_grains=0).choose_scored(scores, 1.0, 1.0, rng).grain for _ in range(300)]
    assert set(picks) <= set(range(8)) and picks.count(2) > picks.count(0)
