"""Mode coverage of samples from a Gaussian mixture (the ring of 8, the grid of 25).

The mode-collapse papers (Unrolled GAN, Metz et al. 2017; VEEGAN, Srivastava et al.
2017; PacGAN, Lin et al. 2018) judge a generator on a mixture with known centres
``c_k`` and standard deviation ``s`` by two numbers:

- a sample is **high quality** when it lies within 3 standard deviations of some
  centre, ``min_k ||x - c_k|| <= 3 s``; the share of such samples says how sharp the
  generator is;
- a mode is **covered** when at least ``min_count`` high-quality samples belong to it
  (PacGAN counts a mode as lost with fewer than 20 of 2500 samples, a fifth of the
  100 a mode gets on the 25-grid when every mode is equally likely).
"""

from __future__ import annotations

import numpy as np

from gradkit.torch_basics import check_count, to_numpy

__all__ = ["nearest_mode", "high_quality_share", "mode_counts", "modes_covered", "HIGH_QUALITY_SD"]

HIGH_QUALITY_SD = 3.0  # "within 3 standard deviations of a centre"


def _as_points(samples, centers, std) -> tuple[np.ndarray, np.ndarray]:
    samples, centers = to_numpy(samples), to_numpy(centers)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"mode coverage: expected samples (n, d) and centers (modes, d) with the same d, "
                         f"got {samples.shape} and {centers.shape}")
    if not std > 0:
        raise ValueError(f"mode coverage: std must be > 0, got {std!r}")
    return samples, centers


def nearest_mode(samples, centers, std: float) -> tuple[np.ndarray, np.ndarray]:
    """For each sample: the index of its nearest centre and its distance in standard deviations."""
    samples, centers = _as_points(samples, centers, std)
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)  # (n, modes)
    nearest = np.argmin(distances, axis=1)
    return nearest, distances[np.arange(len(samples)), nearest] / std


def high_quality_share(samples, centers, std: float, radius_sd: float = HIGH_QUALITY_SD) -> float:
    """The share of samples within ``radius_sd`` standard deviations of some centre (0 for no samples)."""
    _, distance_sd = nearest_mode(samples, centers, std)
    return float(np.mean(distance_sd <= radius_sd)) if len(distance_sd) else 0.0


def mode_counts(samples, centers, std: float, radius_sd: float = HIGH_QUALITY_SD) -> np.ndarray:
    """How many high-quality samples each mode got: shape (modes,)."""
    nearest, distance_sd = nearest_mode(samples, centers, std)
    return np.bincount(nearest[distance_sd <= radius_sd], minlength=len(np.asarray(centers)))


def modes_covered(samples, centers, std: float, min_count: int = 20,
                  radius_sd: float = HIGH_QUALITY_SD) -> int:
    """The number of modes with at least ``min_count`` samples within ``radius_sd`` sd of their centre.

    Use about 2500 samples with the default ``min_count=20``, as PacGAN does.
    """
    min_count = check_count(min_count, "min_count", "modes_covered")
    return int(np.sum(mode_counts(samples, centers, std, radius_sd) >= min_count))
