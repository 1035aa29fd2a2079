"""Data sets for the course: the 8x8 digits that ship with the kit, and synthetic ones.

Everything returns numpy arrays: features as float32 and class labels as int64, so
they feed gradkit Tensors and ``torch.from_numpy`` alike. Every generator takes a
``seed`` and gives the same data for the same arguments.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import NamedTuple

import numpy as np

DIGITS_TEST_SIZE = 360  # 1797 = 1437 train + 360 test, about an 80/20 split
DIGITS_SPLIT_SEED = 0
DIGITS_SPLITS = ("train", "test", "all")


# ----- 8x8 handwritten digits --------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Read ``digits.npz`` once (uint8 pixels 0..16 and uint8 labels 0..9)."""
    with resources.files("gradkit.data").joinpath("digits.npz").open("rb") as file:
        with np.load(file) as archive:
            return archive["X"], archive["y"]


def digits_split_indices() -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the fixed train and test split: one seeded permutation, cut at 360.

    The split never changes, so every student, notebook and grader sees the same test set.
    """
    permutation = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(_digits_arrays()[1]))
    test = np.sort(permutation[:DIGITS_TEST_SIZE])
    train = np.sort(permutation[DIGITS_TEST_SIZE:])
    return train, test


def load_digits(split: str = "train", scale: bool = True, flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI optdigits): ``(X, y)`` for ``split``.

    Args:
        split: "train" (1437 images), "test" (360) or "all" (1797).
        scale: divide pixels by 16 so they lie in [0, 1] (else the raw 0..16 values).
        flatten: rows of 64 features (else images of shape (8, 8)).

    Returns:
        X: float32, shape (n, 64) or (n, 8, 8). y: int64 labels 0..9, shape (n,).
    """
    if split not in DIGITS_SPLITS:
        raise ValueError(f"load_digits: split must be one of {DIGITS_SPLITS}, got {split!r}")
    pixels, labels = _digits_arrays()
    if split != "all":
        train, test = digits_split_indices()
        rows = train if split == "train" else test
        pixels, labels = pixels[rows], labels[rows]
    X = pixels.astype(np.float32)  # a fresh array: callers may modify it freely
    if scale:
        X /= 16.0
    if not flatten:
        X = X.reshape(-1, 8, 8)
    return X, labels.astype(np.int64)


# ----- synthetic regression ----------------------------------------------------------
class LinearData(NamedTuple):
    X: np.ndarray  # (n, dim) inputs
    y: np.ndarray  # (n,) targets  X @ weights + bias + noise
    weights: np.ndarray  # (dim,) the true weights
    bias: float


def _check_count(where: str, **counts: int) -> None:
    for name, value in counts.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{where}: {name} must be an int >= 1, got {value!r}")


def linear_regression(n: int = 100, dim: int = 1, noise: float = 0.1, seed: int = 0,
                      bias: float = 0.0) -> LinearData:
    """y = X w + bias + Gaussian noise, with X ~ N(0, 1) and w ~ N(0, 1) drawn from ``seed``."""
    _check_count("linear_regression", n=n, dim=dim)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    weights = rng.normal(size=dim)
    y = X @ weights + bias + noise * rng.normal(size=n)
    return LinearData(X.astype(np.float32), y.astype(np.float32), weights.astype(np.float32), float(bias))


class PolynomialData(NamedTuple):
    x: np.ndarray  # (n,) inputs in [-1, 1]
    y: np.ndarray  # (n,) targets  polynomial(x) + noise
    coefficients: np.ndarray  # (degree + 1,) lowest power first: y = sum_k c_k x^k


def polynomial_regression(n: int = 30, degree: int = 3, noise: float = 0.1, seed: int = 0) -> PolynomialData:
    """Noisy samples of a random polynomial of ``degree`` on [-1, 1].

    For the under/over-fitting experiment: fit polynomials of other degrees to a few
    points and compare train and test error.
    """
    _check_count("polynomial_regression", n=n)
    if not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"polynomial_regression: degree must be an int >= 0, got {degree!r}")
    rng = np.random.default_rng(seed)
    coefficients = rng.normal(size=degree + 1)
    x = rng.uniform(-1.0, 1.0, size=n)
    clean = np.polynomial.polynomial.polyval(x, coefficients)
    y = clean + noise * rng.normal(size=n)
    return PolynomialData(x.astype(np.float32), y.astype(np.float32), coefficients.astype(np.float32))


# ----- synthetic classification and generative targets -------------------------------
def ring_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The ``modes`` centres, equally spaced on a circle of ``radius``: shape (modes, 2)."""
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def gaussian_ring(n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A mixture of ``modes`` equal Gaussians on a ring, the classic GAN toy target.

    Returns ``(X, mode)``: points (n, 2) float32 and the index of the Gaussian each
    came from (n,) int64, so mode coverage of generated samples can be checked.
    """
    _check_count("gaussian_ring", n=n, modes=modes)
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, modes, size=n)
    X = ring_centers(modes, radius)[mode] + std * rng.normal(size=(n, 2))
    return X.astype(np.float32), mode.astype(np.int64)


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: not linearly separable, easy for an MLP.

    Returns ``(X, y)``: n points (n, 2) float32 in about [-1, 1]^2, labels (n,) int64;
    the classes differ in size by at most one point.
    """
    _check_count("spirals", n=n, classes=classes)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    radius = rng.uniform(0.05, 1.0, size=n)
    # Each arm turns by about one revolution as it moves outwards, offset per class.
    angle = 2.0 * np.pi * (y / classes + radius) + noise * rng.normal(size=n)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return X.astype(np.float32), y.astype(np.int64)
