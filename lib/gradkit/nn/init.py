"""Weight initialisation: Xavier (Glorot) and He (Kaiming), uniform and normal.

Both keep the variance of activations roughly constant from layer to layer, so that a
deep net neither explodes nor dies at the start of training:

- Xavier/Glorot (2010), for tanh/sigmoid-like units: Var(w) = 2 / (fan_in + fan_out).
- He/Kaiming (2015), for ReLU, which zeroes half its inputs: Var(w) = 2 / fan_in.

A uniform distribution on [-a, a] has variance a^2 / 3, hence the bounds below.
Every function takes a ``numpy.random.Generator`` so results are reproducible, and
returns a float32 array (wrap it in a ``Parameter``).
"""

from __future__ import annotations

import math

import numpy as np


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``, stored as ``(out_features, in_features)``."""
    if len(shape) != 2:
        raise ValueError(f"fans: expected a 2-D weight shape (out, in), got {shape}")
    fan_out, fan_in = shape
    return fan_in, fan_out


def _check_rng(rng: np.random.Generator, where: str) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator, got {type(rng).__name__}")


def xavier_uniform(shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Uniform on [-a, a] with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_rng(rng, "xavier_uniform")
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def xavier_normal(shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Normal with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_rng(rng, "xavier_normal")
    fan_in, fan_out = fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, size=shape).astype(np.float32)


def he_uniform(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Uniform on [-a, a] with a = sqrt(6 / fan_in) (variance 2 / fan_in)."""
    _check_rng(rng, "he_uniform")
    fan_in, _ = fans(shape)
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def he_normal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Normal with std = sqrt(2 / fan_in)."""
    _check_rng(rng, "he_normal")
    fan_in, _ = fans(shape)
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape).astype(np.float32)


# Names accepted by ``Linear(init=...)``. "xavier" and "he" are the uniform variants.
INITIALIZERS = {
    "xavier": xavier_uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he": he_uniform,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def initial_weight(name: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Draw a weight with the initialiser called ``name`` (see ``INITIALIZERS``)."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; expected one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name](shape, rng)
