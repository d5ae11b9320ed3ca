from pathlib import Path

import numpy as np
import pytest

from agent.codebook import CODEBOOK_FILE, STATS_FILE, Codebook
from agent.errors import AntiphonError


def _blobs(n_per: int = 40, k: int = 20, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim)) * 10 + np.linspace(0, 100, dim)
    truth = np.repeat(np.arange(k), n_per)
    return (centres[truth] + rng.standard_normal((len(truth), dim))).astype(np.float32), truth


def test_fit_is_seeded_and_labels_survive_save_load(tmp_path: Path) -> None:
    x, truth = _blobs()
    a = Codebook.fit(x, 20, seed=3)
    b = Codebook.fit(x, 20, seed=3)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    labels = a.labels(x)
    assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < 20
    # well-separated blobs: each true cluster maps to one label
    purity = np.mean([np.bincount(labels[truth == t]).max() / 40 for t in range(20)])
    assert purity > 0.9  # k-means may merge two blobs; random labels would give about 0.1
    a.save(tmp_path)
    loaded = Codebook.load(tmp_path, expected_size=20, expected_dim=8)
    np.testing.assert_array_equal(loaded.labels(x), labels)
    assert loaded.label(x[5]) == labels[5]


def test_size_and_data_checks() -> None:
    x, _ = _blobs()
    with pytest.raises(AntiphonError, match="between 16 and 1024"):
        Codebook.fit(x, 8)
    with pytest.raises(AntiphonError, match="need at least 2048 feature vectors"):
        Codebook.fit(x, 1024)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(AntiphonError, match="NaN"):
        Codebook.fit(bad, 16)
    with pytest.raises(AntiphonError, match="do not fit a codebook of dimension 8"):
        Codebook.fit(x, 16).labels(np.zeros((2, 5), dtype=np.float32))


def test_corrupt_files_are_named(tmp_path: Path) -> None:
    x, _ = _blobs()
    Codebook.fit(x, 16).save(tmp_path)
    with pytest.raises(AntiphonError, match="holds 16 centroids, the manifest says 32"):
        Codebook.load(tmp_path, expected_size=32)
    (tmp_path / CODEBOOK_FILE).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(AntiphonError, match=f"{CODEBOOK_FILE}: not a readable .npy file"):
        Codebook.load(tmp_path)
    np.save(tmp_path / CODEBOOK_FILE, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AntiphonError, match="holds pickled objects, which are refused"):
        Codebook.load(tmp_path)
    np.save(tmp_path / CODEBOOK_FILE, np.zeros((16, 8), dtype=np.float64))
    with pytest.raises(AntiphonError, match="expected float32 centroids"):
        Codebook.load(tmp_path)
    np.save(tmp_path / CODEBOOK_FILE, np.zeros((16, 8), dtype=np.float32))
    (tmp_path / STATS_FILE).unlink()
    with pytest.raises(AntiphonError, match=f"{STATS_FILE}: missing"):
        Codebook.load(tmp_path)
