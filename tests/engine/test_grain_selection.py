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
