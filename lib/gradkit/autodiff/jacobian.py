"""Whole Jacobians two ways, to count what each autodiff mode costs.

For f: R^n -> R^m the Jacobian J is m x n.

- Forward mode pushes one tangent direction v through f and gets J v, one
  column per pass when v is a unit vector: n passes.
- Reverse mode pulls one output weighting u back through the graph and gets
  u^T J, one row per pass when u is a unit vector: m passes (after a single
  forward pass that records the graph).

So forward mode wins for few inputs and many outputs, reverse mode for many
inputs and few outputs, which is why training (millions of inputs, one loss)
uses reverse mode.

``f`` is written once with operators and method names (``x.exp()``, ``x.sin()``,
``A @ x``, ``x[0]``, ``.sum()``...) so that it runs both on a ``Tensor`` (reverse
mode) and on a ``Dual`` (forward mode).
"""

from __future__ import annotations

import numpy as np

from gradkit.autodiff.dual import jvp
from gradkit.autodiff.tensor import Tensor

__all__ = ["jacobian"]

MODES = ("forward", "reverse")


def jacobian(f, x, mode: str = "reverse", return_passes: bool = False):
    """The m x n Jacobian of f: R^n -> R^m at the 1-D point ``x``.

    Args:
        f: a function of one vector returning a vector (or a scalar, m = 1).
        x: the point, a 1-D array-like of n numbers (computed in float64).
        mode: "reverse" (m backward passes) or "forward" (n jvp passes).
        return_passes: also return how many derivative passes were used.

    Returns:
        ``J`` with ``J[i, j] = d f_i / d x_j``, or ``(J, passes)``.
    """
    if mode not in MODES:
        raise ValueError(f"jacobian: mode must be one of {MODES}, got {mode!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"jacobian: x must be a 1-D vector, got shape {x.shape}")
    if mode == "reverse":
        J, passes = _reverse_jacobian(f, x)
    else:
        J, passes = _forward_jacobian(f, x)
    return (J, passes) if return_passes else J


def _reverse_jacobian(f, x):
    """One forward pass records the graph; backward with e_i gives row i."""
    x_tensor = Tensor(x, requires_grad=True)
    y = f(x_tensor)
    if not isinstance(y, Tensor):  # f ignored its input: a constant
        y = Tensor(np.asarray(y, dtype=np.float64))
    _check_output(y.shape)
    m = y.size
    J = np.zeros((m, x.size))
    if not y.requires_grad:  # no path from x to y: all derivatives are 0
        return J, m
    for i in range(m):
        seed = np.zeros(m)
        seed[i] = 1.0
        x_tensor.zero_grad()
        # The graph is reused by every pass, so only the last may free it.
        y.backward(seed.reshape(y.shape), retain_graph=i < m - 1)
        if x_tensor.grad is not None:
            J[i] = x_tensor.grad
    return J, m


def _forward_jacobian(f, x):
    """One jvp per input direction e_j gives column j."""
    n = x.size
    columns = []
    for j in range(n):
        direction = np.zeros(n)
        direction[j] = 1.0
        value, column = jvp(f, x, direction)
        _check_output(np.shape(value))
        columns.append(np.reshape(column, -1))
    return np.stack(columns, axis=1), n


def _check_output(shape):
    if len(shape) > 1:
        raise ValueError(f"jacobian: f must return a vector or a scalar, got shape {shape}")
