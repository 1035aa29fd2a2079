"""Ready-made models and data for the labs, benchmarks and the GPU check.

Models are built by *factories*, because a Ray worker on another machine must be able
to rebuild the model: ``mlp_factory((64, 128, 10))`` pickles as a reference to
:func:`gradkit.torch_basics.mlp` (an importable function) plus its sizes.
"""

from __future__ import annotations

import functools

import numpy as np

from gradkit.data import load_digits
from gradkit.torch_basics import mlp

__all__ = ["mlp_factory", "digits_data", "synthetic_classification"]


def mlp_factory(sizes) -> functools.partial:
    """A picklable ``model_fn`` for :func:`gradkit.distributed.trainer.train`: ``mlp(sizes)``."""
    return functools.partial(mlp, tuple(int(s) for s in sizes))


def digits_data(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The course's 8x8 digits (64 features, 10 classes), scaled to [0, 1]."""
    return load_digits(split)


def synthetic_classification(n: int, features: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class: a size-adjustable workload for benchmarks."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(classes, features)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    X = centers[y] + rng.normal(size=(n, features)).astype(np.float32)
    return X.astype(np.float32), y.astype(np.int64)
