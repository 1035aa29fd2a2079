"""One-dimensional k-means (Lloyd's algorithm) for weight sharing, in numpy.

Deep Compression clusters a layer's surviving weights into k = 2^b groups and stores
each weight as a b-bit index into a codebook of the k centroids. The objective is the
within-cluster squared error

    min over C, I   sum_i (w_i - C[I_i])^2

Lloyd's algorithm alternates the two exact partial minimisations: assign each weight
to its nearest centroid, then move each centroid to the mean of its members. The
paper compares three initialisations and recommends **linear** initialisation,
centroids evenly spaced over [min w, max w]: unlike density-based or random starts it
keeps centroids out in the tails, where the few large (important) weights live.

No torch here: plain numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_init", "assign_to_centroids", "kmeans_1d"]


def _as_values(values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{what}: need at least one value, got an empty array")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: values must be finite (no nan or inf)")
    return arr


def linear_init(values, k: int) -> np.ndarray:
    """k centroids evenly spaced over [min, max] of ``values`` (Deep Compression's choice)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"linear_init: k must be a positive int, got {k!r}")
    arr = _as_values(values, "linear_init")
    return np.linspace(arr.min(), arr.max(), int(k))


def assign_to_centroids(values, centroids) -> np.ndarray:
    """Index of the nearest centroid for every value (ties go to the lower index).

    Computed as argmin over |w_i - c_j| in chunks, so memory stays O(chunk * k).
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    cents = np.asarray(centroids, dtype=np.float64).ravel()
    if cents.size == 0:
        raise ValueError("assign_to_centroids: need at least one centroid")
    labels = np.empty(arr.size, dtype=np.int64)
    chunk = 65536
    for start in range(0, arr.size, chunk):
        part = arr[start:start + chunk]
        labels[start:start + chunk] = np.argmin(np.abs(part[:, None] - cents[None, :]), axis=1)
    return labels


def kmeans_1d(values, k: int, iterations: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Cluster scalar ``values`` into ``k`` groups from a linear initialisation.

    Returns ``(centroids, labels)``: centroids of shape (k,), labels the index of each
    value's centroid. A centroid with no members keeps its position (it may win
    members later). Stops when no centroid moves by more than ``tol``.
    """
    arr = _as_values(values, "kmeans_1d")
    if iterations < 1:
        raise ValueError(f"kmeans_1d: iterations must be >= 1, got {iterations!r}")
    centroids = linear_init(arr, k)
    for _ in range(iterations):
        labels = assign_to_centroids(arr, centroids)
        sums = np.bincount(labels, weights=arr, minlength=k)
        counts = np.bincount(labels, minlength=k)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        moved = np.max(np.abs(updated - centroids))
        centroids = updated
        if moved <= tol:
            break
    return centroids, assign_to_centroids(arr, centroids)
