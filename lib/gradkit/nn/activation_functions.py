"""Activations as plain functions on gradkit Tensors (also in ``gradkit.nn.functional``).

``relu``, ``sigmoid``, ``tanh``, ``softmax`` and ``log_softmax`` are Tensor ops. ``arctan``
needs an op the engine lacks, so it is a small custom ``Function``, showing how to extend
the engine: write the forward on numpy arrays and the vector-Jacobian product.
"""

from __future__ import annotations

import numpy as np

from gradkit.autodiff.functions import Function
from gradkit.autodiff.tensor import Tensor, as_tensor

__all__ = ["ArctanFunction", "arctan", "log_softmax", "relu", "sigmoid", "softmax", "tanh"]


def relu(x: Tensor) -> Tensor:
    return as_tensor(x).relu()


def sigmoid(x: Tensor) -> Tensor:
    return as_tensor(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    return as_tensor(x).tanh()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return as_tensor(x).log_softmax(axis=axis)


class ArctanFunction(Function):
    """arctan(x); its derivative is 1 / (1 + x^2)."""

    op_name = "arctan"

    @staticmethod
    def forward(ctx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def backward(ctx, grad: np.ndarray) -> tuple[np.ndarray]:
        (x,) = ctx.saved_arrays
        return (grad / (1 + x * x),)


def arctan(x: Tensor) -> Tensor:
    """Elementwise arctan, an activation with range (-pi/2, pi/2)."""
    return ArctanFunction.apply(as_tensor(x))
