"""Numerical derivatives by finite differences, and ``gradcheck`` built on them.

Finite differences need only function evaluations, so they are the independent
oracle against which analytic (autodiff) gradients are tested. Their error has
two sources that pull the step size h in opposite directions:

- truncation error from the Taylor series: O(h) for the forward difference
  (f(x+h) - f(x)) / h, O(h^2) for the central difference (f(x+h) - f(x-h)) / 2h;
- rounding error from subtracting nearly equal numbers: about eps_machine / h.

So the error first falls and then rises again as h shrinks; in float64 a step
around 1e-6 suits the central difference. Everything here runs in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from gradkit.autodiff.tensor import Tensor
from gradkit.autodiff.value import Value

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "Mismatch",
    "central_difference",
    "forward_difference",
    "gradcheck",
    "numerical_gradient",
]


def forward_difference(f, x, h=1e-6):
    """(f(x + h) - f(x)) / h: the derivative of a scalar f at x, error O(h)."""
    _check_step(h, "forward_difference")
    x = float(x)
    f_plus = _as_scalar(f(x + h), "forward_difference")
    f_here = _as_scalar(f(x), "forward_difference")
    return (f_plus - f_here) / h


def central_difference(f, x, h=1e-6):
    """(f(x + h) - f(x - h)) / 2h: the derivative of a scalar f at x, error O(h^2)."""
    _check_step(h, "central_difference")
    x = float(x)
    f_plus = _as_scalar(f(x + h), "central_difference")
    f_minus = _as_scalar(f(x - h), "central_difference")
    return (f_plus - f_minus) / (2.0 * h)


def numerical_gradient(f, *inputs, eps=1e-6, method="central"):
    """The gradient of a scalar f with respect to each input, by finite differences.

    ``f(*inputs)`` takes numpy arrays (or numbers) and returns a scalar. Each
    entry of each input is nudged by ``eps`` in turn, so this costs one or two
    evaluations of f per entry. Returns a list with one float64 array per input,
    of that input's shape.
    """
    _check_step(eps, "numerical_gradient")
    if method not in ("central", "forward"):
        raise ValueError(f"numerical_gradient: method must be 'central' or 'forward', got {method!r}")
    arrays = [np.array(x, dtype=np.float64) for x in inputs]  # copies: we nudge them in place

    def f_at_current_arrays():
        return _as_scalar(f(*arrays), "numerical_gradient")

    f0 = f_at_current_arrays() if method == "forward" else None
    grads = []
    for x in arrays:
        grad = np.zeros_like(x)
        flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views into x and grad
        for i in range(flat_x.size):
            original = flat_x[i]
            flat_x[i] = original + eps
            f_plus = f_at_current_arrays()
            if method == "central":
                flat_x[i] = original - eps
                f_minus = f_at_current_arrays()
                flat_grad[i] = (f_plus - f_minus) / (2.0 * eps)
            else:
                flat_grad[i] = (f_plus - f0) / eps
            flat_x[i] = original
        grads.append(grad)
    return grads


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


@dataclass
class Mismatch:
    """Where an analytic gradient and a numerical gradient first disagree."""

    input_position: int
    index: tuple
    analytic: float
    numerical: float


@dataclass
class GradcheckReport:
    """The outcome of ``gradcheck``; true in a boolean context when it passed."""

    passed: bool
    max_errors: list = field(default_factory=list)  # max |analytic - numerical| per input
    first_mismatch: Mismatch | None = None

    def __bool__(self):
        return self.passed


def gradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare the gradients from ``.backward()`` with central differences.

    Two modes, chosen by the inputs:

    - all inputs are Python numbers or ``Value``: f takes and returns ``Value``;
    - otherwise (numpy arrays, or Tensors): f takes gradkit ``Tensor``s made with
      ``requires_grad=True`` from float64 copies and returns a scalar Tensor.

    An entry passes when ``|analytic - numerical| <= atol + rtol * |numerical|``.
    On the first failing entry this raises ``GradcheckError`` naming the input
    position, the index and both values, unless ``raise_exception=False``;
    either way it returns a ``GradcheckReport``.
    """
    if not inputs:
        raise ValueError("gradcheck: expected at least one input to differentiate with respect to")
    if all(isinstance(x, Real) or isinstance(x, Value) for x in inputs):
        analytic, numerical = _value_gradients(f, inputs, eps)
    else:
        analytic, numerical = _tensor_gradients(f, inputs, eps)

    max_errors = []
    first_mismatch = None
    for position, (a, n) in enumerate(zip(analytic, numerical)):
        error = np.abs(a - n)
        max_errors.append(float(np.max(error)) if error.size else 0.0)
        # NaN in either gradient fails too: `not (error <= bound)` is true for NaN.
        bad = ~(error <= atol + rtol * np.abs(n))
        if first_mismatch is None and np.any(bad):
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            first_mismatch = Mismatch(position, index, float(a[index]), float(n[index]))

    report = GradcheckReport(first_mismatch is None, max_errors, first_mismatch)
    if first_mismatch is not None and raise_exception:
        m = first_mismatch
        raise GradcheckError(
            f"gradcheck: gradient of input {m.input_position} at index {m.index} is wrong: "
            f"analytic {m.analytic:.6g} vs numerical {m.numerical:.6g} "
            f"(|difference| {abs(m.analytic - m.numerical):.3g} > atol {atol} + rtol {rtol} * |numerical|)"
        )
    return report


def _value_gradients(f, inputs, eps):
    """Analytic and numerical gradients (as 0-d arrays) of f over scalar Values."""
    numbers = [float(x.data) if isinstance(x, Value) else float(x) for x in inputs]
    leaves = [Value(x) for x in numbers]
    out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value for Value inputs, got {type(out).__name__}")
    out.backward()
    analytic = [np.array(leaf.grad) for leaf in leaves]

    def f_numeric(*arrays):
        return f(*(Value(float(a)) for a in arrays)).data

    return analytic, numerical_gradient(f_numeric, *numbers, eps=eps)


def _tensor_gradients(f, inputs, eps):
    """Analytic and numerical gradients of f over gradkit Tensors."""
    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = f(*leaves)
    if not isinstance(out, Tensor) or np.size(out.data) != 1:
        shape = np.shape(out.data) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"gradcheck: f must return a scalar Tensor, got {shape}")
    out.backward()
    # A leaf that f never used gets no gradient (None): its gradient is zero.
    analytic = [
        np.zeros_like(a) if leaf.grad is None else np.asarray(leaf.grad, dtype=np.float64)
        for a, leaf in zip(arrays, leaves)
    ]
    for position, (a, g) in enumerate(zip(arrays, analytic)):
        if g.shape != a.shape:
            raise ValueError(f"gradcheck: gradient of input {position} has shape {g.shape}, expected {a.shape}")

    def f_numeric(*nudged):
        return f(*(Tensor(x, requires_grad=True) for x in nudged)).item()

    return analytic, numerical_gradient(f_numeric, *arrays, eps=eps)


def _as_scalar(out, where):
    """The float value of f's output: a number, a size-1 array, a Value or a Tensor."""
    if isinstance(out, Value):
        return out.data
    if hasattr(out, "item") and not isinstance(out, np.ndarray):  # a Tensor or numpy scalar
        return float(out.item())
    array = np.asarray(out, dtype=np.float64)
    if array.size != 1:
        raise ValueError(f"{where}: f must return a scalar, got an output of shape {array.shape}")
    return float(array.reshape(()))


def _check_step(h, where):
    if not isinstance(h, Real) or not h > 0:
        raise ValueError(f"{where}: the step must be a positive number, got {h!r}")
