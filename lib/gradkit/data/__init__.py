"""Data for the course: the bundled 8x8 digits, synthetic sets and a ``DataLoader`` (numpy only).

Modules, each with one job:

- ``datasets``: ``load_digits`` (reads ``digits.npz``, which ships inside the package;
  nothing is downloaded) and synthetic sets (linear and polynomial regression,
  spirals, Gaussian rings).
- ``loader``: ``DataLoader``, seeded shuffled mini-batches, and ``shard`` for data parallelism.
- ``sharding``: the kit's one sharding rule (``shard_indices``), shared by ``DataLoader.shard``
  and ``gradkit.distributed``'s torch sampler.
- ``make_digits_npz``: the script that made ``digits.npz`` from scikit-learn's copy, run once.
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
