"""Data for the course: the bundled 8x8 digits, synthetic sets and a ``DataLoader``.

``load_digits`` reads ``digits.npz``, which ships inside the package (see
``make_digits_npz.py`` for where it came from); nothing is downloaded.
"""

from gradkit.data.datasets import (
    LinearData,
    PolynomialData,
    digits_split_indices,
    gaussian_ring,
    linear_regression,
    load_digits,
    polynomial_regression,
    ring_centers,
    spirals,
)
from gradkit.data.loader import DataLoader

__all__ = [
    "DataLoader",
    "LinearData",
    "PolynomialData",
    "digits_split_indices",
    "gaussian_ring",
    "linear_regression",
    "load_digits",
    "polynomial_regression",
    "ring_centers",
    "spirals",
]
