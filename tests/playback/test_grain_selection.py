import numpy as np
import pytest

from agent.playback.grain_selection import Choice, GrainSelector, mean_run_length
from agent.errors import AntiphonError

# two pieces of 4 grains; labels per grain; 1-D features equal to the grain index
PIECE = np.array([0, 0, 0, 0, 1, 1, 1, 1])
LABEL = np.array([0, 0, 1, 2, 0, 1, 1, 2])
FEATURE = np.arange(8, dtype=np.float32)[:, None]
CENTROIDS = np.array([[0.0], [1.0], [2.0], [3.2]], dtype=np.float32)  # label 3 has no grain
# features without ties: label 0's grains (0, 1, 4) lie at 0, 1, 3 and centre on 4/3; label 1's (2, 5, 6) at 2.5, 5.5, 6
# and centre on 14/3; label 2's (3, 7) at 4 and 6.5. The nearest grain is never the label's first.
NEAR = np.array([[0.0], [1.0], [2.5], [4.0], [3.0], [5.5], [6.0], [6.5]], dtype=np.float32)


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


def test_nearest_to_the_label_centre_when_nothing_was_played() -> None:
    s = GrainSelector(PIECE, LABEL, NEAR, CENTROIDS, taboo_grains=0)
    assert s.choose(0).grain == 1  # |1 - 4/3| against |0 - 4/3| and |3 - 4/3|
    s.reset()
    assert s.choose(1).grain == 5  # |5.5 - 14/3| against |2.5 - 14/3| and |6 - 14/3|


def test_nearest_to_the_continuation_when_it_has_another_label() -> None:
    s = GrainSelector(PIECE, LABEL, NEAR, CENTROIDS, taboo_grains=0)
    s.last = 4  # feature 3; its successor, grain 5 (feature 5.5), has label 1
    c = s.choose(2)  # label 2: grain 7 (6.5) is nearer 5.5 than grain 3 (4.0), though grain 3 is nearer grain 4
    assert c.grain == 7 and not c.contiguous and not c.fallback


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
    assert mean_run_length([]) == 0.0
    hand = [Choice(0, 0, False, False), Choice(1, 0, True, False), Choice(5, 1, False, False)]
    assert mean_run_length(hand) == 1.5  # runs [0 1] [5]
    s = GrainSelector(PIECE, LABEL, NEAR, CENTROIDS, taboo_grains=0)
    choices = [s.choose(x) for x in [0, 0, 1, 1, 2]]
    # 1 (label 0's centre); 4 (grain 2 has label 1: label 0's grain nearest 2.5); then 5, 6, 7 continue the recording
    assert [c.grain for c in choices] == [1, 4, 5, 6, 7]
    assert mean_run_length(choices) == 2.5  # runs [1] [4 5 6 7]


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
