"""Codebook: k-means centroids (faiss) that turn a feature vector into a label 0..K-1.

Features are standardised per dimension (mean/std of the fitting data) before clustering, so
backends whose dimensions have very different scales (the DSP baseline) cluster sensibly.
Saved as two plain ``.npy`` files: ``codebook.npy`` (centroids, float32 [K, D], in standardised
space) and ``codebook_stats.npy`` (float32 [2, D]: mean, std).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from agent.errors import AntiphonError

CODEBOOK_FILE = "codebook.npy"
STATS_FILE = "codebook_stats.npy"
SIZE_RANGE = (16, 1024)
MIN_POINTS_PER_LABEL = 2


class Codebook:
    """Nearest-centroid labelling of feature vectors."""

    def __init__(self, centroids: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.mean = np.ascontiguousarray(mean, dtype=np.float32)
        self.std = np.ascontiguousarray(std, dtype=np.float32)
        self._index = faiss.IndexFlatL2(self.dim)
        self._index.add(self.centroids)

    @property
    def size(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @classmethod
    def fit(cls, features: np.ndarray, size: int, seed: int = 0, iterations: int = 25, restarts: int = 3) -> "Codebook":
        """k-means on ``features`` [n, D] (best of ``restarts`` runs); deterministic for a seed and input."""
        lo, hi = SIZE_RANGE
        if not lo <= size <= hi:
            raise AntiphonError(f"codebook size must be between {lo} and {hi}, got {size}")
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < size * MIN_POINTS_PER_LABEL:
            raise AntiphonError(
                f"need at least {size * MIN_POINTS_PER_LABEL} feature vectors to fit {size} labels, "
                f"got {x.shape[0] if x.ndim == 2 else 0}: use a smaller codebook or more audio"
            )
        if not np.all(np.isfinite(x)):
            raise AntiphonError("features hold NaN or infinite values; cannot fit a codebook")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        z = np.ascontiguousarray((x - mean) / std, dtype=np.float32)
        kmeans = faiss.Kmeans(
            z.shape[1], size, niter=iterations, nredo=restarts, seed=seed, max_points_per_centroid=100_000, verbose=False
        )
        kmeans.train(z)
        return cls(kmeans.centroids, mean, std)

    def labels(self, features: np.ndarray) -> np.ndarray:
        """int64 [n] nearest-centroid labels of ``features`` [n, D]."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise AntiphonError(f"features of shape {x.shape} do not fit a codebook of dimension {self.dim}")
        if len(x) == 0:
            return np.zeros(0, dtype=np.int64)
        _, idx = self._index.search(self.standardise(x), 1)
        return idx[:, 0].astype(np.int64)

    def standardise(self, features: np.ndarray) -> np.ndarray:
        """Features [n, D] in the codebook's standardised space (float32, contiguous)."""
        return np.ascontiguousarray((np.asarray(features, dtype=np.float32) - self.mean) / self.std, dtype=np.float32)

    def label(self, feature: np.ndarray) -> int:
        """Label of one feature vector [D]."""
        return int(self.labels(np.asarray(feature, dtype=np.float32)[None, :])[0])

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        np.save(folder / CODEBOOK_FILE, self.centroids, allow_pickle=False)
        np.save(folder / STATS_FILE, np.stack([self.mean, self.std]), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, expected_size: int | None = None, expected_dim: int | None = None) -> "Codebook":
        """Load and validate; every problem is a one-line error naming the file."""
        folder = Path(folder)
        centroids = _load_array(folder / CODEBOOK_FILE)
        stats = _load_array(folder / STATS_FILE)
        if centroids.ndim != 2 or centroids.dtype != np.float32:
            raise AntiphonError(
                f"{folder / CODEBOOK_FILE}: expected float32 centroids [K, D], got {centroids.dtype} {centroids.shape}"
            )
        k, d = centroids.shape
        if expected_size is not None and k != expected_size:
            raise AntiphonError(f"{folder / CODEBOOK_FILE}: holds {k} centroids, the manifest says {expected_size}")
        if expected_dim is not None and d != expected_dim:
            raise AntiphonError(f"{folder / CODEBOOK_FILE}: centroids have dimension {d}, features have {expected_dim}")
        if stats.shape != (2, d) or stats.dtype != np.float32:
            raise AntiphonError(f"{folder / STATS_FILE}: expected float32 [2, {d}], got {stats.dtype} {stats.shape}")
        if not (np.all(np.isfinite(centroids)) and np.all(np.isfinite(stats))):
            raise AntiphonError(f"{folder / CODEBOOK_FILE}: holds NaN or infinite values")
        if np.any(stats[1] <= 0):
            raise AntiphonError(f"{folder / STATS_FILE}: standard deviations must be positive")
        return cls(centroids, stats[0], stats[1])


def _load_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise AntiphonError(f"{path}: missing")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise AntiphonError(f"{path}: holds pickled objects, which are refused") from exc
        raise AntiphonError(f"{path}: not a readable .npy file ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise AntiphonError(f"{path}: not a readable .npy file ({exc})") from exc
